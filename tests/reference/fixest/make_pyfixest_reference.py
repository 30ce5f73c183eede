"""Freeze pyfixest 0.60.0 results on the benchmark's panel generator (run once; needs pyfixest).

    python tests/reference/fixest/make_pyfixest_reference.py   # in a venv with pyfixest==0.60.0

writes ``pyfixest_0.60.0_panel.json`` next to this file: for each model, ``pf.feols(formula, data,
vcov={"CRV1": "community"}, weights=...)`` on ``benchmarks/bench_fixest.py:make_panel(seed=2017,
households=2500, communities=30)`` (10,000 rows: more than one row chunk of evalkit's tall products)
with a weight column ``w = 0.5 + (household % 7) / 4``: ``coef()``, ``se()`` and ``_df_t``, in full
precision. pyfixest's default small-sample correction (``ssc(k_adj=True, k_fixef="nonnested",
G_adj=True, G_df="min")``) = R fixest's default. tests/test_absorb_reference.py compares.
"""
import importlib.util
import json
from pathlib import Path

import pyfixest as pf

ROOT = Path(__file__).resolve().parents[3]
spec = importlib.util.spec_from_file_location("bench_fixest", ROOT / "benchmarks" / "bench_fixest.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

MODELS = [
    ("y ~ treat + income | household + wave", None),
    ("y ~ treat + income | household + wave", "w"),
    ("y ~ treat + income | household", None),
    ("y ~ income | household + community^wave", None),
    ("y ~ treat + income | community + wave", "w"),
]


def main() -> None:
    d = bench.make_panel(seed=2017, households=2500, communities=30)
    d["w"] = 0.5 + (d["household"] % 7) / 4
    out = {"source": f"pyfixest {pf.__version__} feols(formula, data, vcov={{'CRV1': 'community'}}, weights=w) "
                     "on benchmarks/bench_fixest.py make_panel(seed=2017, households=2500, communities=30), "
                     "w = 0.5 + (household % 7) / 4; written by tests/reference/fixest/make_pyfixest_reference.py",
           "models": []}
    for formula, w in MODELS:
        m = pf.feols(formula, data=d, vcov={"CRV1": "community"}, weights=w)
        out["models"].append({"formula": formula, "weights": w, "coef": m.coef().to_dict(),
                              "se": m.se().to_dict(), "df_t": float(m._df_t)})
    path = Path(__file__).with_name("pyfixest_0.60.0_panel.json")
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
