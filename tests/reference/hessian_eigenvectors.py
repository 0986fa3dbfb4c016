#!/usr/bin/env python3
"""Exact Hessian eigenvectors of the committed `hessian_tiny` model (issue #15, item 1). CI never runs it.

The model and data are the ones `curvature_reference.py` wrote and committed
(tests/fixtures/models/hessian_tiny.safetensors, the 64 images of exports/cls_token): the exact
Hessian of the mean cross-entropy over every parameter by torch.func.hessian in float64, then
numpy's eigh. Writes the eigenvectors of the two eigenvalues of largest magnitude (what power
iteration finds) as direction files, one f32 tensor per timm parameter name, the eigenvalue and
the gap to the next in the metadata:

    tests/fixtures/hessian_eigenvector_1.safetensors
    tests/fixtures/hessian_eigenvector_2.safetensors

    python3 tests/reference/hessian_eigenvectors.py
"""

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(__file__))
import curvature_reference  # noqa: E402  (the same timm model definition)
import reference  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default="tests/fixtures")
    args = ap.parse_args()

    sd = load_file(os.path.join(args.fixtures, "models", "hessian_tiny.safetensors"))
    data = load_file(os.path.join(args.fixtures, "exports", "cls_token", "eval_data.safetensors"))
    x, y = data["images"].to(torch.float64), data["labels"].to(torch.int64)
    criterion = nn.CrossEntropyLoss()

    model = curvature_reference.build().double()
    model.load_state_dict({k: v.double() for k, v in sd.items()}, strict=True)
    model.eval()
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss_of(flat):
        params, at = {}, 0
        for n, s, k in zip(names, shapes, sizes):
            params[n] = flat[at:at + k].reshape(s)
            at += k
        return criterion(torch.func.functional_call(model, params, (x,)), y)

    h = torch.func.hessian(loss_of)(flat0).detach().numpy()
    h = 0.5 * (h + h.T)
    values, vectors = np.linalg.eigh(h)
    order = np.argsort(-np.abs(values))
    for rank in (0, 1):
        i = order[rank]
        v = vectors[:, i]
        # A sign convention (the largest entry positive) so that the files are reproducible.
        v = v * np.sign(v[np.argmax(np.abs(v))])
        tensors, at = {}, 0
        for n, s, k in zip(names, shapes, sizes):
            tensors[n] = torch.from_numpy(v[at:at + k].reshape(tuple(s))).to(torch.float32).contiguous()
            at += k
        nxt = values[order[rank + 1]]
        path = os.path.join(args.fixtures, f"hessian_eigenvector_{rank + 1}.safetensors")
        save_file(tensors, path, metadata={
            "eigenvalue": repr(float(values[i])),
            "next_eigenvalue": repr(float(nxt)),
            "model": "models/hessian_tiny.safetensors",
            "data": "exports/cls_token/eval_data.safetensors (64 images)",
            "loss": "mean cross-entropy",
            "generator": "tests/reference/hessian_eigenvectors.py",
            **reference.versions(),
        })
        print(f"{path}: λ = {values[i]:.6e} (next {nxt:.6e}), {len(v)} entries")


if __name__ == "__main__":
    main()
