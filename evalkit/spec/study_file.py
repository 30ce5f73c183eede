"""The study file (``study.yaml``): one's own evaluation described once, read by :func:`load_study_file`.

``evalkit new`` writes one; :func:`evalkit.project.open_study` reads it. Every path in it is
relative to the file's folder. Sections (unknown keys are refused, naming the key and the file)::

    title: 某市社区服务项目评估            # for reports
    synthetic: false                      # true: the answers are synthetic (a demo); reports say so
    language: zh                          # zh | en
    seed: 20171                           # every random step (bootstrap, randomization inference)
    min_n: 10                             # smallest community x wave cell that may be published
    waves: [2016, 2017]                   # the design's waves
    baseline_wave: 2016                   # optional: the wave every change is measured from
    codebook: codebook.yaml
    communities: communities.csv          # the registry CSV, or a list (below)
    roles: {community: community_id}      # optional: which data column plays which part
    export:                               # the raw export and the reader's parameters
      path: data/raw/export.xlsx
      kind: wjx                           # wjx | kobo | spss | table
      options: {column_map: {}, drop: [], allow: []}   # keyword arguments of the reader
    design:                               # keyword arguments of evalkit.io.prepare.add_design
      wave: submitted
      fieldwork: data/fieldwork.csv
      by: respondent_id
      replicate_weights: {columns: "repw_*", type: JK1}   # optional: the survey company's replicate
                                        # weights (evalkit.spec.study_replicates); SurveyDesign.from_study
                                        # then returns a ReplicateDesign

``communities`` as a CSV needs only ``community_id`` (or ``id``), ``role`` and ``start_year`` (and
``target_indicators`` or ``targets``, ``budget``, ``pop_<sex>_<age group>``); the registry's other
columns (names, district ...) are filled blank when absent. As a list: one mapping per community with ``id``, ``role`` (programme |
comparison), ``start_year`` (programme communities), and optionally ``name`` (Chinese),
``pinyin``, ``urban_rural``, ``district``, ``street``, ``domain``, ``targets`` (indicator names,
``indicator@group``), ``budget`` (yuan) and ``population`` (``{male_18_39: 1830, ...}``: counts
by sex and age group, the registry's ``pop_<sex>_<age group>`` columns).
"""
from __future__ import annotations

from .study import COMMUNITY_KEYS, EXPORT_KINDS, KEYS, load_study_file

__all__ = ["load_study_file", "KEYS", "COMMUNITY_KEYS", "EXPORT_KINDS"]
