"""Design-based estimation from survey samples, laid out as R ``survey``:

==================  ==========================================================================
``design``          :class:`SurveyDesign`: the design object (weights, strata, PSUs, fpc), its
                    checks, ``subset``/``assign``, ``summary``; thin ``mean``/``total``/
                    ``proportion``/``rake``/``linearized_variance`` methods
``variance``        the linearisation variance engine: PSU totals, lonely PSUs, design df
``domains``         domain estimation behind ``by=``, and :func:`domain_means` (cell means with
                    their covariance matrix)
``calibration``     raking (iterative proportional fitting, bounded), its variance regression and
                    :class:`WeightingInfo`; raking of replicate weights alongside
``replicate``       :class:`ReplicateDesign`: replicate-weight designs (R ``svrepdesign``; JK1, JKn,
                    BRR, Fay, bootstrap, SDR), made from a design by ``SurveyDesign.as_replicate``
``replicate_weights`` the replicate variance (R ``svrVar``), ``degf``, and jackknife/bootstrap weights
``design_checks``   the checks and coding of a design's weight, strata, PSU and fpc columns
``indicators``      :func:`indicator_table`: every codebook indicator by community and wave
==================  ==========================================================================
"""
from .calibration import WeightingInfo
from .design import SurveyDesign
from .domains import domain_means
from .replicate import ReplicateDesign
from .indicators import indicator_table

__all__ = ["SurveyDesign", "ReplicateDesign", "WeightingInfo", "domain_means", "indicator_table"]
