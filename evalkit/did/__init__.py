"""evalkit.did.core"""
