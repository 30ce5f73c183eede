"""Programme evaluation on top of the survey and DiD layers: change from baseline (:mod:`.baseline`),
each community against the comparison communities (:mod:`.comparison`), the pooled staggered effect
with randomization inference (:mod:`.impact`), sensitivity (:mod:`.sensitivity`) and targets and
verdicts (:mod:`.targets`); one set of results for the report (:mod:`.summary`), power and MDEs
(:mod:`.power`), pooling (:mod:`.pooling`) and what the headline rows say together (:mod:`.together`).
"""
