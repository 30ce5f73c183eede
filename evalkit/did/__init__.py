"""Staggered difference-in-differences (Callaway & Sant'Anna 2021), laid out as R ``did``:

==================  ==========================================================================
``estimator``       :func:`att_gt`: orchestration only
``preprocess``      column checks, dropped rows and units, balanced / unbalanced / cross-section layouts
``cells``           the 2x2 DR / IPW / REG estimators (panel and repeated cross-sections) with their
                    influence functions, and the loop over (g, t) cells
``bootstrap``       analytic SEs from influence functions, the multiplier bootstrap and sup-t values
``aggregate``       ``aggte`` (simple / group / dynamic / calendar) and the pre-trend Wald test
``design``          ``att_gt(design=SurveyDesign)``: design-based SEs (influence-function totals over
                    PSUs within strata, fpc), design df, the bootstrap over PSUs within strata
``results``         :class:`ATTGTResult`, :class:`AggregateResult`, :class:`PretrendTest`
``honest``          :func:`sensitivity`, :func:`honest_did`, :func:`breakdown_value`: robust intervals under
                    violations of parallel trends (Rambachan & Roth 2023, R HonestDiD)
``honest_flci``     the fixed-length interval under Delta^SD(M) (HonestDiD ``findOptimalFLCI``)
``pretrend_power``  Roth (2022): power of the pre-test against linear pre-trends (slopes detected 50% / 80% of the time)
==================  ==========================================================================
"""
from ..errors import DidWarning, DroppedUnitsWarning
from .estimator import att_gt
from .honest import SensitivityResult, breakdown_value, honest_did, sensitivity
from .pretrend_power import PretrendPower, pretrend_power
from .results import AggregateResult, ATTGTResult, PretrendTest

__all__ = ["att_gt", "ATTGTResult", "AggregateResult", "PretrendTest", "DroppedUnitsWarning", "DidWarning",
           "sensitivity", "honest_did", "breakdown_value", "SensitivityResult", "pretrend_power", "PretrendPower"]
