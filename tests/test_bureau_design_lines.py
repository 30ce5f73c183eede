"""The bureau report's design-stage sentences (issue 14 item 6): what the study could detect and
what the communities say together. Built from a small headline frame, checked against formulas."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.publish.bureau_context import design_lines


def _summary(rows):
    return SimpleNamespace(headline=pd.DataFrame(rows))


def _row(cid, est, se=0.1, df=np.inf, sd=1.0, better="higher"):
    return {"community_id": cid, "estimate": est, "se": se, "df": df, "sd_baseline": sd, "better": better}


def test_mde_sentence_matches_bloom_formula_in_baseline_sds():
    # Bloom (1995): with a normal test, MDE = (z_{1-alpha/2} + z_{power}) * se = 2.8016 se at 5%, 80%
    bloom = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * 0.1
    lines = design_lines(_summary([_row("a", 0.3, se=0.1, sd=1.0), _row("b", 0.1, se=0.2, sd=2.0)]), "en", 0.95)
    assert len(lines) == 1  # two communities: no pooled sentence
    assert f"about {bloom:.2f} to {bloom:.2f} baseline" in lines[0] and "median 0.28 over 2 targets" in lines[0]
    zh = design_lines(_summary([_row("a", 0.3)]), "zh", 0.95)[0]
    assert "0.28至0.28个基线标准差" in zh


def test_pooled_sentence_signs_lower_is_better_and_skips_rows_without_se():
    # three communities improving by 0.2 SD each (one on a lower-is-better target), equal SEs:
    # tau2 = 0, so the pooled effect is exactly +0.2; a suppressed row (no se) is left out
    rows = [_row("a", 0.2), _row("b", -0.4, sd=2.0, se=0.2, better="lower"), _row("c", 0.2),
            _row("d", np.nan, se=np.nan)]
    lines = design_lines(_summary(rows), "en", 0.95)
    assert len(lines) == 2 and "median 0.28 over 3 targets" in lines[0]
    assert "Pooling the 3 programme communities" in lines[1] and "on average +0.20 SD" in lines[1]


def test_no_sentences_without_estimates():
    assert design_lines(_summary([_row("a", np.nan, se=np.nan)]), "en", 0.95) == []
