"""Measurement: scale scores by their published rules (:mod:`.scales`, rules in :mod:`.scoring`) and
reliability (:mod:`.reliability`: alpha, item-rest; :mod:`.factor`: one-factor model, omega;
:mod:`.items`: item checks and covariances).
"""
