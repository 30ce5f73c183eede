"""evalkit.inference.core"""
