"""Errors and typed warnings raised by evalkit.

Every error a user can meet is an :class:`EvalkitError` (or a subclass) whose
message names the file, row, column and value involved and says how to fix it.
Warnings are typed so that notebooks can filter one kind without silencing the
rest (``warnings.simplefilter("ignore", evalkit.FewClustersWarning)``).
"""
from __future__ import annotations


class EvalkitError(Exception):
    """Base class of every error evalkit raises on purpose."""


class CodebookError(EvalkitError):
    """The codebook file is malformed or inconsistent; ``.problems`` lists what was found
    (:class:`evalkit.spec.codebook_schema.Problem`: entry path, key, line, message)."""

    def __init__(self, message: str, problems=None):
        super().__init__(message)
        self.problems = list(problems or [])


class ReadError(EvalkitError):
    """A survey export could not be read (encoding, format, truncated file)."""


class ValidationError(EvalkitError):
    """Strict validation found problems; ``.problems`` holds the full table."""

    def __init__(self, message: str, problems=None):
        super().__init__(message)
        self.problems = problems


class PersonalDataError(EvalkitError):
    """A column looks like personal data (name, phone, citizen ID, address)."""

    def __init__(self, message: str, columns=None):
        super().__init__(message)
        self.columns = list(columns or [])


class DesignError(EvalkitError):
    """A survey design or weighting step cannot be carried out as asked."""


class EstimationError(EvalkitError):
    """An estimator cannot be computed from the data given (e.g. no controls)."""


class ManifestError(EvalkitError):
    """The data files do not match ``MANIFEST.sha256``, or the manifest is missing or malformed."""

    def __init__(self, message: str, table=None):
        super().__init__(message)
        self.table = table


class EvalkitWarning(UserWarning):
    """Base class of evalkit's warnings."""


class LonelyPSUWarning(EvalkitWarning):
    """A stratum (or domain within it) has a single PSU; its variance is handled specially."""


class FewClustersWarning(EvalkitWarning):
    """Few clusters: headline inference uses the wild bootstrap or randomization inference."""


class SmallSampleWarning(EvalkitWarning):
    """An estimate rests on an effective sample size below the reporting threshold."""


class ConvergenceWarning(EvalkitWarning):
    """An iterative procedure (raking, a mixed model) did not converge."""


class FontFallbackWarning(EvalkitWarning):
    """No CJK font was found; figure labels fall back to pinyin."""


class DisclosureWarning(EvalkitWarning):
    """Cells were suppressed to protect respondents."""


class DroppedUnitsWarning(EvalkitWarning):
    """Units or rows were dropped or recoded before estimation (count named in the message)."""


class DidWarning(EvalkitWarning):
    """A group-time cell or an aggregation could not be computed as asked (R ``did`` warns too)."""


class ReliabilityWarning(EvalkitWarning):
    """A reliability statistic rests on degenerate input: an item without variance
    was dropped, or the one-factor model hit a Heywood case (a uniqueness at its bound)."""


class ShockVarianceWarning(EvalkitWarning):
    """The community-shock variance of a per-community DiD is not estimable from the comparison
    communities; the affected rows use a conservative fallback (``shock_estimable=False``)."""
