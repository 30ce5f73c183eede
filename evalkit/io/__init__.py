"""Data in: reading exports (:mod:`.read`, platform formats in :mod:`.exports`), validation against the
codebook (:mod:`.validate`), derived fields by codebook rules (:mod:`.derive`), personal data and
pseudonyms (:mod:`.privacy`), data checksums (:mod:`.manifest`).
"""
