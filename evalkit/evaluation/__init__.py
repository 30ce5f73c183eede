"""Programme evaluation on top of the survey and DiD layers: change from baseline (:mod:`.baseline`),
each community against the comparison communities (:mod:`.comparison`), the pooled staggered effect
with randomization inference (:mod:`.impact`), sensitivity (:mod:`.sensitivity`) and targets and
verdicts (:mod:`.targets`).
"""
