"""A study of one's own: ``evalkit new`` scaffolding and its template."""
