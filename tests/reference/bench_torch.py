"""PyTorch CPU baseline for `vitscape bench`: the same timm ViT (28x28, patch 7, D=64, depth 4,
4 heads, MLP 256, cls token, 10 classes), the same 256 images per cell in batches of 128, the
same per-cell work (theta = theta* + a*d1 + b*d2 written into the parameters, then a no-grad
forward + cross-entropy + accuracy), the same thread count. Run by hand, never by CI:

    pip install --index-url https://download.pytorch.org/whl/cpu torch && pip install timm
    python3 tests/reference/bench_torch.py --threads 2 --cells 10
"""
import argparse
import time
from functools import partial

import timm  # noqa: F401  (version report)
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cells", type=int, default=10)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = VisionTransformer(img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=64,
                              depth=4, num_heads=4, mlp_ratio=4.0, qkv_bias=True,
                              norm_layer=partial(nn.LayerNorm, eps=1e-6)).eval().to(args.device)
    params = list(model.parameters())
    theta = [p.detach().clone() for p in params]
    d1 = [torch.randn_like(p) for p in params]
    d2 = [torch.randn_like(p) for p in params]
    images = torch.randn(args.images, 1, 28, 28, device=args.device)
    labels = torch.arange(args.images, device=args.device) % 10

    def cell(a, b):
        with torch.no_grad():
            for p, t, x, y in zip(params, theta, d1, d2):
                p.copy_(t + a * x + b * y)
            loss, correct = 0.0, 0
            for i in range(0, args.images, args.batch_size):
                logits = model(images[i:i + args.batch_size])
                loss += F.cross_entropy(logits, labels[i:i + args.batch_size], reduction="sum").item()
                correct += (logits.argmax(-1) == labels[i:i + args.batch_size]).sum().item()
        return loss / args.images, correct / args.images

    t0 = time.perf_counter()
    cell(0.0, 0.0)
    first_ms = (time.perf_counter() - t0) * 1e3
    t = time.perf_counter()
    for i in range(args.cells):
        a = i / args.cells - 0.5
        cell(a, -a)
    secs = time.perf_counter() - t
    cps = args.cells / secs
    n_params = sum(p.numel() for p in params)
    print(f"torch {torch.__version__} timm {timm.__version__}, {args.threads} threads, {n_params} parameters")
    flops = 7.0824e6 * args.images  # vitscape's count for this model (VitConfig::flops_per_image)
    print(f"| pytorch-{args.device} | {cps:.2f} | {1e3 / cps:.1f} | {flops * cps / 1e9:.2f} | {first_ms:.0f} |")


if __name__ == "__main__":
    main()
