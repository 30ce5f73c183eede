"""evalkit.io"""
