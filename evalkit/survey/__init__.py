"""Design-based estimation from survey samples, laid out as R ``survey``:

==================  ==========================================================================
``design``          :class:`SurveyDesign`: the design object (weights, strata, PSUs, fpc), its
                    checks, ``subset``/``assign``, ``summary``; thin ``mean``/``total``/
                    ``proportion``/``rake``/``linearized_variance`` methods
``variance``        the linearisation variance engine: PSU totals, lonely PSUs, design df
``domains``         domain estimation behind ``by=``, and :func:`domain_means` (cell means with
                    their covariance matrix)
``calibration``     raking (iterative proportional fitting, bounded), its variance regression and
                    :class:`WeightingInfo`
``indicators``      :func:`indicator_table`: every codebook indicator by community and wave
==================  ==========================================================================
"""
from .calibration import WeightingInfo
from .design import SurveyDesign
from .domains import domain_means
from .indicators import indicator_table

__all__ = ["SurveyDesign", "WeightingInfo", "domain_means", "indicator_table"]
