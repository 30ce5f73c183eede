"""Transitional: the old ``evalkit.inference.core`` names, now in wild.py, randomization.py and few_clusters.py."""
from .few_clusters import FEW_CLUSTERS, headline  # noqa: F401
from .randomization import RandomizationResult, randomization_test  # noqa: F401
from .wild import WildBootstrapResult, wild_cluster_bootstrap  # noqa: F401
