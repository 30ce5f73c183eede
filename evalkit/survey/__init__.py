"""evalkit.survey"""
