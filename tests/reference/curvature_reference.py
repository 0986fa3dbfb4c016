#!/usr/bin/env python3
"""Independent curvature reference for vitscape (METHODS.md section 5). CI never runs it.

A 1-block timm ViT small enough (~1 300 parameters) for its Hessian to be formed exactly, on the
64 images of the committed `cls_token` export, mean cross-entropy over all parameters:

* the exact Hessian by torch.func.hessian in float64, its eigenvalues (numpy eigvalsh), trace,
  largest and smallest eigenvalue;
* PyHessian 0.1 (Yao et al.; `pip install pyhessian --no-deps`) on the float32 model: its top
  eigenvalue (power iteration, maxIter 100, tol 1e-3) and its Hutchinson trace, run with tol 0 so
  that every one of `--trace-samples` Rademacher samples is used.

Outputs (committed): tests/fixtures/models/hessian_tiny.safetensors and
tests/fixtures/curvature_reference.json.

    python3 tests/reference/curvature_reference.py
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file
from timm.models.vision_transformer import VisionTransformer

sys.path.insert(0, os.path.dirname(__file__))
import reference  # noqa: E402  (shared fixture conventions: LayerNorm eps, noise on 1-D params)

SEED = 11
DIM, HEADS, MLP_RATIO = 8, 2, 2.0


def build():
    model = VisionTransformer(
        img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=DIM, depth=1,
        num_heads=HEADS, mlp_ratio=MLP_RATIO, norm_layer=reference.NORM, class_token=True,
        global_pool="token", qkv_bias=True,
    )
    # Explicit softmax attention: the fused CPU kernel has no second derivative.
    for block in model.blocks:
        block.attn.fused_attn = False
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default="tests/fixtures")
    ap.add_argument("--trace-samples", type=int, default=2000)
    args = ap.parse_args()

    torch.manual_seed(SEED)
    model = build()
    reference.add_noise(model, 2000 + SEED)
    sd = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    path = os.path.join(args.fixtures, "models", "hessian_tiny.safetensors")
    save_file(sd, path, metadata={
        "num_heads": str(HEADS), "format": "timm", "global_pool": "token", "num_classes": "10",
        "layer_norm_eps": repr(reference.LN_EPS),
        "generator": "tests/reference/curvature_reference.py", **reference.versions(),
    })
    model.load_state_dict(load_file(path), strict=True)
    model.eval()

    data = load_file(os.path.join(args.fixtures, "exports", "cls_token", "eval_data.safetensors"))
    x, y = data["images"].to(torch.float32), data["labels"].to(torch.int64)
    criterion = nn.CrossEntropyLoss()

    # Exact Hessian over every parameter (named_parameters order), float64.
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    model64 = build().double()
    model64.load_state_dict({k: v.double() for k, v in sd.items()})
    model64.eval()
    flat0 = torch.cat([p.detach().reshape(-1) for p in model64.parameters()])

    def loss_of(flat):
        params, at = {}, 0
        for n, s, k in zip(names, shapes, sizes):
            params[n] = flat[at:at + k].reshape(s)
            at += k
        out = torch.func.functional_call(model64, params, (x.double(),))
        return criterion(out, y)

    h = torch.func.hessian(loss_of)(flat0).detach().numpy()
    h = 0.5 * (h + h.T)
    eig = np.linalg.eigvalsh(h)
    exact = {
        "loss": float(loss_of(flat0)),
        "lambda_max": float(eig[-1]),
        "lambda_min": float(eig[0]),
        "trace": float(np.trace(h)),
        "frobenius": float(np.linalg.norm(h)),
        "largest_magnitude": float(eig[np.argmax(np.abs(eig))]),
    }

    from pyhessian import hessian as PyHessian

    torch.manual_seed(0)
    comp = PyHessian(model, criterion, data=(x, y), cuda=False)
    top, _ = comp.eigenvalues(maxIter=100, tol=1e-3, top_n=1)
    torch.manual_seed(1)
    traces = comp.trace(maxIter=args.trace_samples, tol=0.0)
    traces = np.array(traces, dtype=np.float64)
    pyh = {
        "top_eigenvalue": float(top[0]),
        "trace_mean": float(traces.mean()),
        "trace_standard_error": float(traces.std(ddof=1) / np.sqrt(len(traces))),
        "trace_samples": int(len(traces)),
        "settings": {"eigenvalues": {"maxIter": 100, "tol": 1e-3, "top_n": 1},
                     "trace": {"maxIter": args.trace_samples, "tol": 0.0}},
    }
    out = {
        "generator": "tests/reference/curvature_reference.py",
        "versions": {**reference.versions(), "pyhessian": "0.1"},
        "model": "hessian_tiny",
        "data": "exports/cls_token/eval_data.safetensors (64 images)",
        "loss": "mean cross-entropy",
        "parameters": int(flat0.numel()),
        "exact": exact,
        "pyhessian": pyh,
    }
    dest = os.path.join(args.fixtures, "curvature_reference.json")
    with open(dest, "w") as f:
        json.dump(out, f, indent=2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
