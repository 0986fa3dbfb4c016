#!/usr/bin/env python3
"""Reference for 224×224 RGB ViTs and timm's eval preprocessing (issue #12).

Writes into --out (default tests/fixtures/rgb224):

* vit224.pth: a timm VisionTransformer at 224/patch 16 with a non-64 head dim (width 48,
  3 heads = head dim 16, depth 1, 10 classes), random init plus noise, saved by torch.save as a
  plain state dict: no metadata, so vitscape must be told --heads 3;
* images/<class>/*.png: RGB images of mixed sizes (smooth synthetic patterns, so the PNGs stay
  small), labelled by folder;
* cropped/<class>/*.png: the same images after timm's own Resize(248, bicubic) and
  CenterCrop(224), as PIL produced them;
* reference.json: the loss and accuracy at θ* computed by timm, on `images` through timm's
  transforms (create_transform, crop_pct 224/248, ImageNet mean/std) and on `cropped` with
  ToTensor + Normalize only.

vitscape must match the cropped figures to 1e-4 and, resizing the originals itself, the others
to 5e-3 relative (resampling kernels differ slightly). CI never runs this; its outputs are
committed. Run from the repository root:

    python3 tests/reference/rgb224.py --out tests/fixtures/rgb224
"""

import argparse
import json
import math
import os

import numpy as np
import timm
import torch
import torch.nn.functional as F
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, create_transform
from timm.models.vision_transformer import VisionTransformer
from torchvision import transforms

SIZES = [(300, 250), (256, 320), (224, 224), (500, 375), (240, 260), (231, 229), (400, 300), (260, 247)]
CLASSES = ["a_class", "b_class"]


def pattern(w, h, k):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 127 + 120 * np.sin(x / (9 + k) + k) * np.cos(y / (13 + 2 * k))
    g = 127 + 120 * np.sin((x + y) / (17 + k))
    b = 255 * (x / w) * (1 - y / h) if k % 2 else 255 * ((x // (20 + k) + y // (16 + k)) % 2)
    return Image.fromarray(np.stack([r, g, b], -1).clip(0, 255).astype(np.uint8), "RGB")


def loss_of(model, batch, labels):
    with torch.no_grad():
        logits = model(batch)
    loss = F.cross_entropy(logits, labels).item()
    acc = (logits.argmax(1) == labels).float().mean().item()
    return loss, acc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/rgb224")
    args = ap.parse_args()
    torch.manual_seed(7)
    model = VisionTransformer(img_size=224, patch_size=16, in_chans=3, embed_dim=48, depth=1,
                              num_heads=3, mlp_ratio=4.0, num_classes=10, class_token=True,
                              global_pool="token", qkv_bias=True).eval()
    g = torch.Generator().manual_seed(1007)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 or name in ("cls_token", "pos_embed"):
                p.add_(0.05 * torch.randn(p.shape, generator=g))
        # a large head and a small position embedding, so that the loss moves with the pixels:
        # skipping the centre crop changes it by ~4 %, bilinear for bicubic by ~0.1 %
        model.head.weight.mul_(20.0)
        model.pos_embed.mul_(0.1)
    os.makedirs(args.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(args.out, "vit224.pth"))

    transform = create_transform(input_size=(3, 224, 224), interpolation="bicubic",
                                 crop_pct=224 / 248, mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD)
    resize_crop = transforms.Compose(transform.transforms[:2])
    to_tensor = transforms.Compose(transform.transforms[2:])
    originals, cropped, labels = [], [], []
    for i, (w, h) in enumerate(SIZES):
        cls = CLASSES[i % 2]
        img = pattern(w, h, i)
        for folder, im in (("images", img), ("cropped", resize_crop(img))):
            d = os.path.join(args.out, folder, cls)
            os.makedirs(d, exist_ok=True)
            im.save(os.path.join(d, f"{i}.png"), optimize=True)
        originals.append(transform(img))
        # the committed PNG of the cropped image, read back (PNG is lossless)
        cropped.append(to_tensor(Image.open(os.path.join(args.out, "cropped", cls, f"{i}.png")).convert("RGB")))
        labels.append(CLASSES.index(cls))
    labels = torch.tensor(labels)
    loss_r, acc_r = loss_of(model, torch.stack(originals), labels)
    loss_c, acc_c = loss_of(model, torch.stack(cropped), labels)
    ref = {
        "generator": "tests/reference/rgb224.py",
        "torch": torch.__version__,
        "timm": timm.__version__,
        "transform": str(transform),
        "images": len(SIZES),
        "resized": {"loss": loss_r, "accuracy": acc_r},
        "cropped": {"loss": loss_c, "accuracy": acc_c},
    }
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")
    print(json.dumps(ref, indent=2))


if __name__ == "__main__":
    main()
