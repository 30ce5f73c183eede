"""evalkit.evaluation"""
