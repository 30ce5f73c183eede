"""The study specification: the codebook (:mod:`.codebook`, checked against :mod:`.codebook_schema`),
the community registry (:mod:`.registry`) and :class:`~.study.Study`, which holds both with the roles of
the data's columns. Imports only :mod:`evalkit.errors`, :mod:`evalkit._literals` and :mod:`evalkit.results`.
"""
