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
  ToTensor + Normalize only;
* mae224.pth: an MAE at 224/patch 16, RGB (reference.py's models_mae-design class: width 48,
  3 heads, depth 1; decoder width 32, 2 heads, depth 1), saved as MAE's pretrain files are
  (`{'model': state_dict}`).

Second step, for the MAE loss (vitscape draws the masks, so it exports them first):

    vitscape sweep --checkpoint tests/fixtures/rgb224/mae224.pth --heads 3 --decoder-heads 2 \
        --loss mae --data tests/fixtures/rgb224/cropped --mean imagenet --eval-images 8 \
        --grid 0:0:1 --no-plots --export-data --out /tmp/mae224
    python3 tests/reference/rgb224.py --mae-exports /tmp/mae224

checks that the exported images are timm's normalisation of the cropped PNGs (up to the subset's
order), and writes mae_reference.json: the normalised-pixel MAE loss with those masks.

vitscape must match the cropped figures to 1e-4 and, resizing the originals itself, the others
to 5e-3 relative (resampling kernels differ slightly). CI never runs this; its outputs are
committed. Run from the repository root:

    python3 tests/reference/rgb224.py --out tests/fixtures/rgb224
"""

import argparse
import glob
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


def reference_module():
    """tests/reference/reference.py, which holds the MAE class (models_mae design)."""
    import importlib.util
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("reference", os.path.join(here, "reference.py"))
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    return reference


def mae_architecture(reference):
    return reference.MaskedAutoencoderViT(
        img_size=224, patch_size=16, in_chans=3, embed_dim=48, depth=1, num_heads=3,
        decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2, mlp_ratio=4.0).eval()


def mae_model():
    reference = reference_module()
    torch.manual_seed(11)
    model = mae_architecture(reference)
    reference.add_noise(model, 1011)
    return model


def mae_reference(args):
    from safetensors.torch import load_file
    model = mae_architecture(reference_module())
    model.load_state_dict(torch.load(os.path.join(args.out, "mae224.pth"))["model"])
    data = load_file(os.path.join(args.mae_exports, "eval_data.safetensors"))
    images, noise = data["images"], data["mask_noise"]
    # the exported images are timm's normalisation of the committed crops, in some order
    to_tensor = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)])
    ours = [to_tensor(Image.open(f).convert("RGB"))
            for f in sorted(glob.glob(os.path.join(args.out, "cropped", "*", "*.png")))]
    for img in images:
        best = min((img - o).abs().max().item() for o in ours)
        assert best <= 1e-6, best
    with torch.no_grad():
        pred, mask = model(images, noise, 0.75)
        loss = model.forward_loss(images, pred, mask, norm_pix_loss=True).item()
    out = {"generator": "tests/reference/rgb224.py --mae-exports", "torch": torch.__version__,
           "images": int(images.shape[0]), "mask_ratio": 0.75, "loss_norm_pix": loss}
    with open(os.path.join(args.out, "mae_reference.json"), "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(json.dumps(out, indent=2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/rgb224")
    ap.add_argument("--mae-exports", help="second step: vitscape's --export-data folder for mae224.pth")
    args = ap.parse_args()
    if args.mae_exports:
        return mae_reference(args)
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
    mae = mae_model()
    torch.save({"model": mae.state_dict()}, os.path.join(args.out, "mae224.pth"))

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
