"""evalkit.publish"""
