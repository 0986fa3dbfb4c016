#!/usr/bin/env python3
"""Exact curvature of a *trained* ViT, for checking vitscape's Hessian-vector products (issue #9).
CI never runs it; its outputs are committed fixtures.

The 1 250-parameter `hessian_tiny` model of `curvature_reference.py` has so little curvature that a
far too large finite-difference step passes its tests. This script trains a small timm ViT on
Fashion-MNIST until its top Hessian eigenvalue is large (>= 100), then forms its Hessian *exactly*:
every column is a float64 double-backward product with a unit vector (autograd, create_graph),
and the products with a Gaussian vector are formed the same way, with nothing in common with vitscape's central differences.

Model: timm VisionTransformer, 28x28x1, patch 7, width 24, depth 2, 3 heads, MLP ratio 2, class
token, LayerNorm eps 1e-6, explicit (non-fused) attention. Training: AdamW (lr 2e-3, weight decay
0.05), batch 128, `--epochs` epochs over the 60 000 Fashion-MNIST training images, seed 17, two
threads. Loss for the curvature: mean cross-entropy over the first `--images` test images,
normalised with vitscape's Fashion-MNIST mean 0.2860 / std 0.3530, all parameters.

Outputs (committed):
  tests/fixtures/models/trained_vit.safetensors          the trained model (float32)
  tests/fixtures/exports/trained_vit/eval_data.safetensors   the images (f32 [N,1,28,28]) and labels
  tests/fixtures/exports/trained_vit/products.safetensors    `v.<name>`: a fixed Gaussian vector
      (seed 5), `hv.<name>`: H·v exact, `top.<name>`: the unit eigenvector of lambda_1 — each keyed
      by timm parameter name, PyTorch layout, float32 (H·v from float64)
  tests/fixtures/curvature_trained.json                  eigenvalues, trace, Hutchinson variance

    pip install scipy
    python3 tests/reference/curvature_trained.py
"""

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import scipy.linalg
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer

sys.path.insert(0, os.path.dirname(__file__))
import reference  # noqa: E402  (LayerNorm eps, versions)

SEED = 17
DIM, DEPTH, HEADS, MLP_RATIO = 24, 2, 3, 2.0
MEAN, STD = 0.2860, 0.3530
FASHION = "/usr/share/datasets/fashion-mnist"


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def images(split):
    x = idx(os.path.join(FASHION, f"{split}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = idx(os.path.join(FASHION, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
    x = (x - MEAN) / STD
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


def build():
    model = VisionTransformer(
        img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=DIM, depth=DEPTH,
        num_heads=HEADS, mlp_ratio=MLP_RATIO, norm_layer=reference.NORM, class_token=True,
        global_pool="token", qkv_bias=True,
    )
    for block in model.blocks:  # the fused CPU kernel has no second derivative
        block.attn.fused_attn = False
    return model


def train(model, epochs):
    x, y = images("train")
    g = torch.Generator().manual_seed(SEED)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=g)
        total = 0.0
        for i in range(0, len(x), 128):
            b = order[i:i + 128]
            loss = F.cross_entropy(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        print(f"epoch {epoch}: train loss {total / len(x):.4f}", flush=True)
    model.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default="tests/fixtures")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--images", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(SEED)

    model = build()
    t0 = time.time()
    train(model, args.epochs)
    print(f"trained in {time.time() - t0:.0f} s", flush=True)
    sd = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    meta = {
        "num_heads": str(HEADS), "format": "timm", "global_pool": "token", "num_classes": "10",
        "layer_norm_eps": repr(reference.LN_EPS), "generator": "tests/reference/curvature_trained.py",
        **reference.versions(),
    }
    save_file(sd, os.path.join(args.fixtures, "models", "trained_vit.safetensors"), metadata=meta)

    xt, yt = images("t10k")
    x, y = xt[:args.images].contiguous(), yt[:args.images].contiguous()
    exports = os.path.join(args.fixtures, "exports", "trained_vit")
    os.makedirs(exports, exist_ok=True)
    save_file({"images": x, "labels": y}, os.path.join(exports, "eval_data.safetensors"))

    # float64 copy, flat parameter vector in named_parameters order
    model64 = build().double()
    model64.load_state_dict({k: v.double() for k, v in sd.items()})
    model64.eval()
    names = [n for n, _ in model64.named_parameters()]
    shapes = [p.shape for _, p in model64.named_parameters()]
    sizes = [p.numel() for _, p in model64.named_parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model64.parameters()])
    n = flat0.numel()
    x64 = x.double()

    def loss_of(flat):
        params, at = {}, 0
        for name, s, k in zip(names, shapes, sizes):
            params[name] = flat[at:at + k].reshape(s)
            at += k
        return F.cross_entropy(torch.func.functional_call(model64, params, (x64,)), y)

    def hvp(v):
        f = flat0.detach().clone().requires_grad_(True)
        g = torch.autograd.grad(loss_of(f), f, create_graph=True)[0]
        return torch.autograd.grad(g, f, v)[0]

    loss = float(loss_of(flat0))
    print(f"{n} parameters, loss {loss:.6f} on {args.images} images", flush=True)

    # The exact Hessian, column by column: the gradient's graph is built once (create_graph) and
    # differentiated again along each unit vector (double backward, graph retained).
    t0 = time.time()
    f = flat0.detach().clone().requires_grad_(True)
    g = torch.autograd.grad(loss_of(f), f, create_graph=True)[0]
    h = np.empty((n, n), dtype=np.float64)
    e = torch.zeros(n, dtype=torch.float64)
    for j in range(n):
        e[j] = 1.0
        h[:, j] = torch.autograd.grad(g, f, e, retain_graph=True)[0].numpy()
        e[j] = 0.0
        if j % 500 == 0:
            print(f"  column {j}/{n} ({time.time() - t0:.0f} s)", flush=True)
    del g, f
    asym = float(np.abs(h - h.T).max() / np.abs(h).max())
    h = 0.5 * (h + h.T)
    print(f"Hessian formed in {time.time() - t0:.0f} s (asymmetry {asym:.1e})", flush=True)

    eig, vecs = scipy.linalg.eigh(h, subset_by_index=[n - 3, n - 1])
    eig, vecs = eig[::-1], vecs[:, ::-1]
    lmin = float(scipy.linalg.eigh(h, eigvals_only=True, subset_by_index=[0, 0])[0])
    frob2 = float((h * h).sum())
    diag2 = float((np.diag(h) ** 2).sum())
    trace = float(np.trace(h))
    lmax = float(eig[0])
    ratio = min(abs(lmin / lmax), 0.5) if lmin < 0 else 0.0

    # A fixed Gaussian vector and its exact product (one double-backward product, not a column
    # sum, so the stored H·v does not depend on the symmetrisation above).
    v = torch.randn(n, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    v32 = v.to(torch.float32).double()  # what the fixture stores
    hv = hvp(v32).detach()
    top = torch.from_numpy(np.ascontiguousarray(vecs[:, 0]))
    products = {}
    at = 0
    for name, s, k in zip(names, shapes, sizes):
        products[f"v.{name}"] = v32[at:at + k].reshape(s).to(torch.float32).contiguous()
        products[f"hv.{name}"] = hv[at:at + k].reshape(s).to(torch.float32).contiguous()
        products[f"top.{name}"] = top[at:at + k].reshape(s).to(torch.float32).contiguous()
        at += k
    save_file(products, os.path.join(exports, "products.safetensors"))
    hv_check = float(np.linalg.norm(h @ v32.numpy() - hv.numpy()) / np.linalg.norm(hv.numpy()))

    out = {
        "generator": "tests/reference/curvature_trained.py",
        "versions": reference.versions(),
        "model": "trained_vit",
        "architecture": {"embed_dim": DIM, "depth": DEPTH, "num_heads": HEADS, "patch_size": 7,
                         "mlp_ratio": MLP_RATIO, "class_token": True},
        "training": {"epochs": args.epochs, "optimizer": "AdamW", "lr": 2e-3,
                     "weight_decay": 0.05, "batch_size": 128, "seed": SEED},
        "data": f"first {args.images} Fashion-MNIST test images, mean {MEAN}, std {STD}",
        "loss_function": "mean cross-entropy",
        "parameters": n,
        "exact": {
            "loss": loss,
            "eigenvalues": [float(e) for e in eig],
            "lambda_max": lmax,
            "lambda_min": lmin,
            "convexity_ratio": ratio,
            "trace": trace,
            "frobenius": frob2 ** 0.5,
            # Var(zᵀHz) for a Rademacher z: 2·Σ_{i≠j} H_ij²
            "hutchinson_variance": 2.0 * (frob2 - diag2),
            "hv_norm": float(np.linalg.norm(hv.numpy())),
            "hv_vs_columns": hv_check,
            "asymmetry": asym,
        },
    }
    with open(os.path.join(args.fixtures, "curvature_trained.json"), "w") as f:
        json.dump(out, f, indent=2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
