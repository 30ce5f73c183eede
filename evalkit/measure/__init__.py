"""evalkit.measure"""
