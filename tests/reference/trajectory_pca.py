#!/usr/bin/env python3
"""PCA of a checkpoint series by numpy's SVD and scikit-learn's PCA (issue #15, item 2). CI never runs it.

Li et al. 2018 §7 (their `projection.py`): rows dᵢ = θᵢ − θ* (θ* = the last checkpoint), PCA
centres the rows on their mean (scikit-learn's `PCA` does), the two components are unit vectors,
and each checkpoint's coordinates are the plain projections ⟨dᵢ, vₖ⟩. As `vitscape trajectory`
does by default, rank-1 tensors and `pos_embed` are left out (Li et al.'s `--ignore biasbn`).

The series is made here, deterministically, from the committed `hessian_tiny` model: six
checkpoints that curve towards it with a wobble, written with its metadata to

    tests/fixtures/trajectory/tiny-e001.safetensors … tiny-e006.safetensors (e006 is θ*)

and the reference to tests/fixtures/trajectory_pca.json: the explained-variance ratios, every
checkpoint's (α, β), and the two components per timm name, each signed so that its largest
entry is positive (vitscape's convention).

    pip install numpy safetensors scikit-learn
    python3 tests/reference/trajectory_pca.py
"""

import argparse
import json
import os

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

EPOCHS = 6


def left_out(name, value):
    return value.ndim <= 1 or name in ("pos_embed", "decoder_pos_embed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default="tests/fixtures")
    args = ap.parse_args()

    with safe_open(os.path.join(args.fixtures, "models", "hessian_tiny.safetensors"), "np") as f:
        meta = f.metadata()
        theta = {k: f.get_tensor(k).astype(np.float32) for k in f.keys()}
    meta = dict(meta, generator="tests/reference/trajectory_pca.py")

    rng = np.random.default_rng(2405)
    a, b, c = ({k: rng.normal(0, 0.05, v.shape).astype(np.float32) for k, v in theta.items()} for _ in range(3))
    out_dir = os.path.join(args.fixtures, "trajectory")
    os.makedirs(out_dir, exist_ok=True)
    series = []
    for e in range(1, EPOCHS + 1):
        t = (EPOCHS - e) / (EPOCHS - 1)  # 1 at the first epoch, 0 at the last
        wobble = t * (1 - t) * np.sin(3.0 * e)
        ckpt = {k: (v + t * a[k] + t * t * b[k] + wobble * c[k]).astype(np.float32) for k, v in theta.items()}
        save_file(ckpt, os.path.join(out_dir, f"tiny-e{e:03d}.safetensors"), metadata=meta)
        series.append(ckpt)

    centre = series[-1]
    names = sorted(k for k, v in centre.items() if not left_out(k, v))
    # The f32 files are what both sides read; differences and sums in float64.
    rows = np.stack(
        [np.concatenate([(s[k].astype(np.float64) - centre[k].astype(np.float64)).ravel() for k in names]) for s in series]
    )
    centred = rows - rows.mean(axis=0)
    _, sv, vt = np.linalg.svd(centred, full_matrices=False)
    ratio = sv**2 / np.sum(sv**2)
    components = vt[:2].copy()
    for comp in components:
        if comp[np.argmax(np.abs(comp))] < 0:
            comp *= -1
    coords = rows @ components.T

    checked = ["numpy.linalg.svd"]
    try:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, svd_solver="full").fit(rows)
        assert np.allclose(pca.explained_variance_ratio_, ratio[:2], rtol=1e-10, atol=1e-12)
        for mine, theirs in zip(components, pca.components_):
            assert abs(abs(float(mine @ theirs)) - 1.0) < 1e-10
        checked.append("sklearn.decomposition.PCA")
    except ImportError:
        pass

    by_name = []
    for comp in components:
        parts, start = {}, 0
        for k in names:
            size = centre[k].size
            parts[k] = comp[start : start + size].tolist()
            start += size
        by_name.append(parts)
    fixture = {
        "generator": "tests/reference/trajectory_pca.py",
        "checked_with": checked,
        "series": [f"tiny-e{e:03d}.safetensors" for e in range(1, EPOCHS + 1)],
        "left_out": sorted(k for k, v in centre.items() if left_out(k, v)),
        "explained_variance_ratio": ratio[:2].tolist(),
        "coords": coords.tolist(),
        "components": by_name,
    }
    with open(os.path.join(args.fixtures, "trajectory_pca.json"), "w") as f:
        json.dump(fixture, f, indent=1)
    print("explained variance ratio", ratio[:2], "checked with", checked)


if __name__ == "__main__":
    main()
