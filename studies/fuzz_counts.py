"""Run the fuzzing harness of tests/test_fuzz.py with many more cases and record the counts.

    python studies/fuzz_counts.py [n_per_kind] [seed]

Writes studies/fuzz_counts_results.md: cases tried per kind and how each ended (read_error /
validation_error: an evalkit error naming the file, row and column; valid / quarantined: a
validation report with rows in = valid + quarantined). Any other ending stops the run with the
failing case (that is how the bugs fixed in read.py/validate.py were found).
"""
from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_fuzz import CASES, N_PER_KIND, run_harness  # noqa: E402


def main(n_per_kind: int = 200, seed: int = 1) -> Counter:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        counts = run_harness(n_per_kind, seed, Path(tmp))
    secs = time.perf_counter() - t0
    total = sum(counts.values())
    lines = [
        "# Fuzzing counts",
        "",
        f"`python studies/fuzz_counts.py {n_per_kind} {seed}`: {total} harness cases in {secs:.0f} s, "
        "every one ending in a valid result or an evalkit error that names the file "
        "(row and column where one is to blame); rows in = valid + quarantined in every validation.",
        "",
        f"The test suite runs {N_PER_KIND} cases per kind ({N_PER_KIND * len(CASES)} cases, seed 20170601) "
        "plus the hypothesis properties of tests/test_fuzz.py (60 + 60 + 40 + 40 + 60 = 260 examples).",
        "",
        "| kind | outcome | cases |",
        "|---|---|---|",
    ]
    for (kind, outcome), n in sorted(counts.items()):
        lines.append(f"| {kind} | {outcome} | {n} |")
    lines.append(f"| **total** | | **{total}** |")
    text = "\n".join(lines) + "\n"
    (ROOT / "studies" / "fuzz_counts_results.md").write_text(text, encoding="utf-8")
    print(text)
    return counts


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)
