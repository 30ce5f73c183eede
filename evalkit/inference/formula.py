"""Model formulas for :func:`evalkit.regress`: the fixest-style fixed-effects part and the design.

``"y ~ x1 + x2 | fe1 + fe2 + fe1^fe3"`` reads as in R fixest / pyfixest: the part after the single
``|`` lists fixed effects to absorb (``fe1^fe3``: one effect per combination of fe1 and fe3); the
part before it is a statsmodels/patsy formula whose design matrix is built here.

patsy evaluates anything it does not know as Python, so ``y ~ d | id`` without this parser is the
bitwise OR of ``d`` and ``id`` -- a number, silently used as a regressor. :func:`parse_formula`
therefore refuses every Python operator outside ``I(...)`` (``|`` ``&`` ``^`` ``<<`` ``>>`` ``%``
``//`` ``@`` ``~``) except the one ``|`` that opens the fixed effects and ``^`` inside them.
"""
from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EvalkitError

__all__ = ["ParsedFormula", "parse_formula", "build_matrices", "column_or_array", "formula_columns", "isna"]

# Python operators patsy would evaluate on the values of the columns (never a formula operator)
_PY_OPERATORS = {"|", "&", "^", "<<", ">>", "%", "//", "@", "~", "|=", "&=", "^="}
_MEANING = {"|": "bitwise OR", "&": "bitwise AND", "^": "bitwise XOR", "<<": "a bit shift",
            ">>": "a bit shift", "%": "the remainder", "//": "integer division",
            "@": "a matrix product", "~": "a bitwise NOT"}


@dataclass(frozen=True)
class ParsedFormula:
    """A formula split into outcome, regressors (patsy) and fixed effects.

    Attributes
    ----------
    text : str
        The formula as given.
    lhs, rhs : str
        Outcome and regressors (patsy syntax).
    fixef : tuple of tuple of str
        One tuple per fixed effect: its column(s) (``("community", "wave")`` for
        ``community^wave``). Empty without a ``|`` part.
    """

    text: str
    lhs: str
    rhs: str
    fixef: tuple[tuple[str, ...], ...] = ()

    @property
    def fixef_names(self) -> list[str]:
        """The fixed effects as written (``"community^wave"``)."""
        return ["^".join(f) for f in self.fixef]


def _tokens(text: str, formula: str) -> list[tokenize.TokenInfo]:
    try:
        return [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.COMMENT)]
    except (tokenize.TokenError, SyntaxError, IndentationError) as exc:
        raise EvalkitError(f"formula={formula!r} cannot be read ({exc}); check the brackets and quotes.") from exc


def _term_around(text: str, start: int, end: int) -> str:
    """The '+'-separated term of ``text`` containing text[start:end] (for the error message)."""
    left = max(text.rfind("+", 0, start), text.rfind("~", 0, start)) + 1
    right = text.find("+", end)
    return text[left: len(text) if right < 0 else right].strip()


def _refuse_operators(text: str, formula: str, part: str) -> None:
    """EvalkitError for a Python operator outside ``I(...)`` in ``text``."""
    toks = _tokens(text, formula)
    depth_i = []                   # stack: is this bracket an I( ... )?
    for k, t in enumerate(toks):
        if t.type == tokenize.OP and t.string in "([{":
            depth_i.append(t.string == "(" and k > 0 and toks[k - 1].string == "I")
        elif t.type == tokenize.OP and t.string in ")]}":
            if depth_i:
                depth_i.pop()
        elif t.type == tokenize.OP and t.string in _PY_OPERATORS and not any(depth_i):
            op = t.string.rstrip("=")
            term = _term_around(text, t.start[1], t.end[1])
            fix = ("Fixed effects go after ONE '|' at the end: 'y ~ x1 + x2 | unit + wave'; "
                   "interact fixed effects with '^' there ('| community^wave'); write I(...) "
                   "around an arithmetic expression you really mean")
            raise EvalkitError(
                f"formula={formula!r}: the term {term!r} in the {part} uses the Python operator "
                f"{op!r}, which would be evaluated as {_MEANING.get(op, 'Python')} of the values "
                f"(e.g. of the ids), not as a model term. {fix}."
            )


def _split_top_level_bar(rhs: str, formula: str) -> tuple[str, str | None]:
    """(regressors, fixed-effects part or None): split at the first '|' outside brackets."""
    depth = 0
    for t in _tokens(rhs, formula):
        if t.type == tokenize.OP and t.string in "([{":
            depth += 1
        elif t.type == tokenize.OP and t.string in ")]}":
            depth -= 1
        elif t.type == tokenize.OP and t.string == "|" and depth == 0:
            col = t.start[1]
            return rhs[:col], rhs[t.end[1]:]
    return rhs, None


_FE_NAME = re.compile(r"^[^\W\d][\w.]*$")


def _parse_fixef(part: str, formula: str) -> tuple[tuple[str, ...], ...]:
    if "|" in part:
        raise EvalkitError(
            f"formula={formula!r} has more than one '|'. evalkit reads 'y ~ x | fe1 + fe2' "
            "(one fixed-effects part; fixest's instrumental-variable part '| endog ~ inst' is not "
            "supported). Remove the extra '|'."
        )
    out: list[tuple[str, ...]] = []
    for raw in part.split("+"):
        term = raw.strip()
        cols = tuple(c.strip() for c in term.split("^"))
        if not term or not all(_FE_NAME.match(c) for c in cols):
            raise EvalkitError(
                f"formula={formula!r}: the fixed effect {term!r} is not a column name or "
                "columns joined by '^'. Write fixed effects as 'unit + wave' or "
                "'community^wave' (no C(), ':' or '*' after the '|')."
            )
        if cols in out:
            raise EvalkitError(f"formula={formula!r} lists the fixed effect {term!r} twice; remove one.")
        out.append(cols)
    return tuple(out)


def parse_formula(formula: Any) -> ParsedFormula:
    """Split ``formula`` into outcome, regressors and fixed effects; refuse Python operators.

    Parameters
    ----------
    formula : str
        ``"y ~ x1 + C(x2)"`` or, fixest style, ``"y ~ x1 + x2 | fe1 + fe2^fe3"``.

    Returns
    -------
    ParsedFormula

    Raises
    ------
    EvalkitError
        When the formula has no ``~`` or outcome, a Python operator (``|`` ``&`` ``^``
        ``<<`` ``>>`` ``%`` ``//`` ``@`` ``~``) outside ``I(...)`` and outside the fixed-effects
        part, more than one ``|``, or a fixed effect that is not a column name.

    Examples
    --------
    >>> parse_formula("y ~ treat | household + community^wave").fixef
    (('household',), ('community', 'wave'))
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise EvalkitError(
            f"formula={formula!r} must be a string with an outcome on the left of '~', "
            "e.g. 'y ~ treat + C(community) + C(wave)' or 'y ~ treat | household + wave'."
        )
    lhs, rhs = formula.split("~", 1)
    if not lhs.strip():
        raise EvalkitError(f"formula={formula!r} has no outcome on the left of '~'.")
    _refuse_operators(lhs, formula, "outcome")
    rhs_x, fe_part = _split_top_level_bar(rhs, formula)
    _refuse_operators(rhs_x, formula, "right-hand side")
    if not rhs_x.strip():
        raise EvalkitError(f"formula={formula!r} has no regressor before the '|'; e.g. 'y ~ treat | unit'.")
    fixef = () if fe_part is None else _parse_fixef(fe_part, formula)
    return ParsedFormula(text=formula, lhs=lhs.strip(), rhs=rhs_x.strip(), fixef=fixef)


# ---------------------------------------------------------------------------
# Columns and design matrices
# ---------------------------------------------------------------------------

def column_or_array(data: pd.DataFrame, value: Any, argument: str) -> tuple[np.ndarray, str | None]:
    """Resolve ``cluster=`` / ``weights=``: a column name of ``data`` or an array of len(data)."""
    if isinstance(value, str):
        if value not in data.columns:
            raise EvalkitError(
                f"{argument}={value!r} is not a column of the data; available columns: "
                + ", ".join(map(str, data.columns[:20]))
                + (" ..." if len(data.columns) > 20 else "")
                + "."
            )
        return data[value].to_numpy(), value
    arr = np.asarray(value)
    if arr.ndim != 1 or len(arr) != len(data):
        raise EvalkitError(
            f"{argument} must be a column name or a 1-D array with one entry per row "
            f"({len(data)} rows); got shape {arr.shape}."
        )
    return arr, None


def isna(values: np.ndarray) -> np.ndarray:
    return pd.isna(pd.Series(values)).to_numpy()


def formula_columns(formula: str, data: pd.DataFrame) -> list[str]:
    """Columns of ``data`` whose names occur in ``formula`` (to name them in error messages)."""
    found = []
    for col in data.columns:
        name = str(col)
        if re.search(r"(?<![\w.])" + re.escape(name) + r"(?![\w.])", formula):
            found.append(col)
    return found


_SIMPLE_RHS = re.compile(r"^[\s\w.+*:\-()]*$")


def _simple_rhs(rhs: str) -> bool:
    """True if the right-hand side uses no function other than C(...) (no stateful transforms).

    Then the design matrix of a row depends only on that row's values, and it can be built
    once per distinct combination of the right-hand-side variables.
    """
    stripped = re.sub(r"\bC\(\s*[\w.]+\s*\)", "", rhs)
    return "(" not in stripped and bool(_SIMPLE_RHS.match(rhs))


def _plain_numeric(rhs: str, data: pd.DataFrame) -> list[str] | None:
    """The columns of a right-hand side that is only numeric (not boolean) columns joined by
    '+', each once; else None. Their design is the columns themselves (patsy's too)."""
    terms = [t.strip() for t in rhs.split("+")]
    if len(set(terms)) != len(terms) or not all(t in data.columns for t in terms):
        return None
    ok = all(pd.api.types.is_numeric_dtype(data[t]) and not pd.api.types.is_bool_dtype(data[t]) for t in terms)
    return terms if ok else None


def _outcome(lhs: str, data: pd.DataFrame, manager) -> np.ndarray:
    n = len(data)
    if lhs in data.columns:
        yv = pd.to_numeric(data[lhs], errors="coerce").to_numpy(dtype=float)
        if data[lhs].notna().sum() != np.isfinite(yv).sum():
            raise EvalkitError(f"The outcome {lhs!r} has non-numeric values; convert it to numbers.")
        return yv
    ydf = manager().get_matrices(f"{lhs} - 1", data, eval_env=1, pandas=True, na_action="drop")
    if ydf.shape[1] != 1:
        raise EvalkitError(f"The outcome {lhs!r} expands to {ydf.shape[1]} columns; use a numeric outcome.")
    yv = np.full(n, np.nan)
    yv[ydf.index.to_numpy()] = ydf.to_numpy(dtype=float)[:, 0]
    return yv


def build_matrices(parsed: ParsedFormula, data: pd.DataFrame):
    """(y, Xu, grp, names, keep): outcome, distinct design rows ``Xu`` with the design row
    of each data row ``X = Xu[grp]``, column names, and the rows without missing values.

    Design matrices come from statsmodels' FormulaManager (patsy in statsmodels 0.15).
    When the right-hand side is plain variables and ``C(...)`` factors, the design is built
    on the distinct rows of the right-hand-side variables (a few dozen for a community x
    wave panel) and expanded: patsy converts categorical values one Python object at a
    time, which costs seconds on 100,000+ rows. The columns and names are the same.
    With fixed effects (``parsed.fixef``) the intercept column is left out (the fixed
    effects absorb it); the other columns are patsy's, with the intercept's coding.
    """
    from statsmodels.formula._manager import FormulaManager

    formula, rhs = parsed.text, parsed.rhs
    n = len(data)
    try:
        yv = _outcome(parsed.lhs, data, FormulaManager)
        cols = formula_columns(rhs, data)
        plain = _plain_numeric(rhs, data) if parsed.fixef else None
        if plain is not None:   # absorbed fixed effects: every row is its own design row anyway
            names = plain
            Xfull = np.column_stack([data[c].to_numpy(dtype=float, na_value=np.nan) for c in plain])
            return yv, Xfull, np.arange(n), names, np.isfinite(yv) & np.all(np.isfinite(Xfull), axis=1)
        if cols and _simple_rhs(rhs):
            grp = data.groupby(cols, dropna=False, sort=False).ngroup().to_numpy()
            _, first = np.unique(grp, return_index=True)
            uniq = data.iloc[first][cols].reset_index(drop=True)
            Xu = FormulaManager().get_matrices("~" + rhs, uniq, eval_env=1, pandas=True, na_action="drop")
            nrow = len(uniq)
        else:
            Xu = FormulaManager().get_matrices("~" + rhs, data, eval_env=1, pandas=True, na_action="drop")
            grp = np.arange(n)
            nrow = n
        names = [str(c) for c in Xu.columns]
        Xfull = np.full((nrow, Xu.shape[1]), np.nan)
        Xfull[Xu.index.to_numpy()] = Xu.to_numpy(dtype=float)
    except EvalkitError:
        raise
    except Exception as exc:  # patsy raises PatsyError/NameError with its own message
        raise EvalkitError(
            f"Could not build the design matrices for formula {formula!r}: {exc}. "
            "Check that every variable in the formula is a column of the data."
        ) from exc
    if parsed.fixef and "Intercept" in names:
        j = names.index("Intercept")
        names = names[:j] + names[j + 1:]
        Xfull = np.delete(Xfull, j, axis=1)
    if not names:
        raise EvalkitError(f"formula={formula!r} has no coefficient to estimate besides the fixed effects.")
    keep = np.isfinite(yv) & np.all(np.isfinite(Xfull), axis=1)[grp]
    return yv, Xfull, grp, names, keep
