"""evalkit.spec"""
