"""Independent reference for the verdict's statistics (issue #15 item 6): for every comparison in
static/demo/verdict.json, the differences model - baseline grouped by training seed, the 95 %
percentile-bootstrap interval of their mean, and the effect size.

- One training seed: the exact bootstrap of the direction seeds' differences, every one of the
  n**n ordered resamples enumerated with itertools, percentiles by numpy's `inverted_cdf`; the
  effect size d_z = mean / sample standard deviation of the differences.
- Several training seeds: the nested bootstrap (training seeds resampled with replacement, then
  each drawn seed's direction seeds), by numpy's own generator, 2 000 000 resamples; the
  effect size = mean difference / sample standard deviation of the training seeds' mean
  differences. vitscape draws 100 000 resamples from another generator, so the script also
  measures the Monte Carlo standard deviation of each endpoint at 100 000 resamples (40
  repetitions): `interval_mc_sd`, which the test scales into its tolerance.
- `nested_cases`: the nested bootstrap of fixed examples, so the several-seed path is checked
  whatever the committed verdict holds.

Run by hand from the repository root; writes tests/fixtures/verdict_bootstrap.json:

    python3 tests/reference/verdict_bootstrap.py
"""

import itertools
import json
import pathlib

import numpy as np

RUST_RESAMPLES = 100_000
REFERENCE_RESAMPLES = 2_000_000
REPETITIONS = 40


def exact(d):
    n = len(d)
    means = np.array([d[list(ix)].mean() for ix in itertools.product(range(n), repeat=n)])
    lo, hi = np.quantile(means, [0.025, 0.975], method="inverted_cdf")
    return [float(lo), float(hi)]


def nested_means(groups, resamples, rng, chunk=200_000):
    """Means of `resamples` nested resamples of equal-sized groups (array [t, d])."""
    t, d = groups.shape
    out = []
    left = resamples
    while left > 0:
        k = min(chunk, left)
        picked = rng.integers(0, t, size=(k, t))                 # which training seeds
        inner = rng.integers(0, d, size=(k, t, d))               # which direction seeds
        values = groups[picked[:, :, None], inner]               # [k, t, d]
        out.append(values.mean(axis=2).mean(axis=1))
        left -= k
    return np.concatenate(out)


def nested(groups, seed):
    rng = np.random.default_rng(seed)
    means = nested_means(groups, REFERENCE_RESAMPLES, rng)
    lo, hi = np.quantile(means, [0.025, 0.975], method="inverted_cdf")
    ends = []
    for _ in range(REPETITIONS):
        m = nested_means(groups, RUST_RESAMPLES, rng)
        ends.append(np.quantile(m, [0.025, 0.975], method="inverted_cdf"))
    sd = np.array(ends).std(axis=0, ddof=1)
    return [float(lo), float(hi)], [float(sd[0]), float(sd[1])]


def row(groups, seed):
    groups = np.asarray(groups, dtype=np.float64)
    if groups.shape[0] == 1:
        d = groups[0]
        sd = d.std(ddof=1) if len(d) > 1 else 0.0
        return {
            "interval": exact(d),
            "effect_size": float(d.mean() / sd) if sd > 0 else None,
        }
    interval, mc_sd = nested(groups, seed)
    means = groups.mean(axis=1)
    sd = means.std(ddof=1)
    return {
        "interval": interval,
        "interval_mc_sd": mc_sd,
        "effect_size": float(groups.mean() / sd) if sd > 0 else None,
    }


root = pathlib.Path(__file__).resolve().parents[2]
verdict = json.loads((root / "static/demo/verdict.json").read_text())
rows = []
for k, mode in enumerate(verdict["modes"]):
    for j, c in enumerate(mode["comparisons"]):
        t = max(1, len(c.get("training_seeds", [])))
        d = np.array(c["model_values"], dtype=np.float64) - np.array(c["baseline_values"], dtype=np.float64)
        groups = d.reshape(t, -1)
        r = {"question": c["question"], "differences": groups.tolist()}
        r.update(row(groups, seed=100 * k + j))
        rows.append(r)

cases = []
for seed, groups in enumerate([
    [[0.1, 0.4, 0.2, 0.3, 0.0], [0.5, 0.3, 0.9, 0.6, 0.4], [-0.2, 0.0, 0.1, 0.05, -0.1]],
    [[1.5, 2.5], [3.0, 3.0], [3.5, 4.5]],
    [[-0.02, 0.01, 0.03], [0.04, 0.05, 0.02], [0.01, -0.01, 0.0], [0.03, 0.02, 0.06]],
]):
    c = {"groups": groups}
    c.update(row(groups, seed=1000 + seed))
    cases.append(c)

out = root / "tests/fixtures/verdict_bootstrap.json"
out.write_text(json.dumps({
    "generator": "tests/reference/verdict_bootstrap.py",
    "numpy": np.__version__,
    "comparisons": rows,
    "nested_cases": cases,
}, indent=1) + "\n")
print(f"wrote {out}: {len(rows)} comparisons, {len(cases)} nested cases")
