"""Independent reference for the verdict's statistics (issue #15 item 6): for every comparison in
static/demo/verdict.json, the per-seed differences, their 95 % percentile-bootstrap interval of
the mean -- exact, every one of the n**n ordered resamples enumerated with itertools, percentiles
by numpy's `inverted_cdf` -- and Cohen's d_z (mean / sample standard deviation).

Run by hand from the repository root; writes tests/fixtures/verdict_bootstrap.json:

    python3 tests/reference/verdict_bootstrap.py
"""

import itertools
import json
import pathlib

import numpy as np

root = pathlib.Path(__file__).resolve().parents[2]
verdict = json.loads((root / "static/demo/verdict.json").read_text())
rows = []
for mode in verdict["modes"]:
    for c in mode["comparisons"]:
        d = np.array(c["model_values"], dtype=np.float64) - np.array(c["baseline_values"], dtype=np.float64)
        n = len(d)
        means = np.array([d[list(ix)].mean() for ix in itertools.product(range(n), repeat=n)])
        lo, hi = np.quantile(means, [0.025, 0.975], method="inverted_cdf")
        sd = d.std(ddof=1)
        rows.append({
            "question": c["question"],
            "differences": d.tolist(),
            "interval": [float(lo), float(hi)],
            "effect_size": float(d.mean() / sd) if sd > 0 else None,
        })
out = root / "tests/fixtures/verdict_bootstrap.json"
out.write_text(json.dumps({"generator": "tests/reference/verdict_bootstrap.py", "numpy": np.__version__, "comparisons": rows}, indent=1) + "\n")
print(f"wrote {out}: {len(rows)} comparisons")
