"""The names of 0.1's ``evalkit.did`` module, kept importable from here for one release.

0.2 splits the module as R ``did`` does (see :mod:`evalkit.did`); import from
``evalkit.did`` (``from evalkit.did import att_gt``). This module goes in evalkit 0.3.
"""
from ..errors import DidWarning, DroppedUnitsWarning
from .estimator import att_gt
from .results import AggregateResult, ATTGTResult, PretrendTest

__all__ = ["att_gt", "ATTGTResult", "AggregateResult", "PretrendTest", "DroppedUnitsWarning", "DidWarning"]
