"""The performance evaluation (绩效评价) of purchased services: service records, outputs against
contracts, cost per result, the scorecard and its grade (issue 13).

* :mod:`.records` -- read and check service records (服务台账): :func:`read_records`;
* :mod:`.contracts` -- outputs against contract targets, budget execution, reach;
* :mod:`.cost` -- cost per beneficiary / per 服务人次, cost per unit of effect (Fieller interval);
* :mod:`.scorecard` -- the indicator system as data, scores, grade bands, grade-flip probability,
  alternative weightings;
* :mod:`.findings` -- problems and required fixes per project;
* :mod:`.evaluate` -- all of it in one call (:func:`evaluate_performance`, contract C9) and the
  mid-term/final rounds (:func:`compare_rounds`).

This layer sits between :mod:`evalkit.evaluation` (the survey effects it prices) and
:mod:`evalkit.publish` (which renders it); it never opens the shipped example
(:mod:`evalkit.datasets.records` does).
"""
from .contracts import against_targets, budget_execution, check_budgets, project_outputs, target_population
from .cost import cost_per_effect, fieller_ratio
from .findings import findings
from .evaluate import (PROJECT_COLUMNS, PerformanceEvaluation, RecordsFolder, compare_rounds, evaluate_performance,
                       project_metrics, read_records_folder, records_quality, survey_effects)
from .records import RecordsReport, combine_records, load_records_spec, parse_date, read_records
from .scorecard import Scorecard, grade_of, grade_uncertainty, load_scorecard, reweight, score_sheet

__all__ = ["read_records", "RecordsReport", "load_records_spec", "parse_date", "combine_records", "project_outputs",
           "against_targets", "budget_execution", "target_population", "check_budgets", "fieller_ratio",
           "cost_per_effect", "Scorecard", "load_scorecard", "score_sheet", "grade_of", "grade_uncertainty", "reweight",
           "evaluate_performance", "PerformanceEvaluation", "PROJECT_COLUMNS", "compare_rounds", "project_metrics",
           "records_quality", "survey_effects", "read_records_folder", "RecordsFolder", "findings"]
