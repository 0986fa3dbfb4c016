#!/usr/bin/env python3
"""Independent PyTorch reference for vitscape's loss-landscape evaluation.

Purpose
-------
vitscape (Rust) evaluates ViT losses at perturbed weights theta* + a*d1 + b*d2.
This script is an *independent* implementation of the same quantities with
PyTorch + timm (the upstream vocabulary), used to produce committed fixtures
that the Rust test-suite compares against.  CI never runs this script: its
outputs (tests/fixtures/models/*.safetensors and
tests/fixtures/reference_losses.json) are committed.  Definitions follow the project's METHODS.md, sections 2-4
(checkpoint vocabulary, losses, directions).

Install (CPU only)
------------------
    pip install --index-url https://download.pytorch.org/whl/cpu torch && pip install timm safetensors numpy

Commands (run from the repository root)
---------------------------------------
1. Tiny fixture models (deterministic, torch.manual_seed per model):
       python3 tests/reference/reference.py models --out tests/fixtures/models
2. Let vitscape export directions + evaluation data for each model into DIR/<model>/
   (direction_x.safetensors, direction_y.safetensors, eval_data.safetensors), then:
       python3 tests/reference/reference.py evaluate --models tests/fixtures/models \
           --exports DIR --out tests/fixtures/reference_losses.json
3. Self-test without the Rust exporter (never commit its output):
       python3 tests/reference/reference.py fake-exports --models tests/fixtures/models --out /tmp/fake_exports
       python3 tests/reference/reference.py evaluate --models tests/fixtures/models \
           --exports /tmp/fake_exports --out /tmp/fake_reference_losses.json

torch / timm versions are recorded in the safetensors metadata and in the JSON.
"""

import argparse
import hashlib
import json
import math
import os
import sys
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F
import timm
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Block, VisionTransformer
from safetensors.torch import load_file, save_file, safe_open

# ---------------------------------------------------------------------------
# Shared configuration
# ---------------------------------------------------------------------------
IMG_SIZE = 28
PATCH_SIZE = 7
IN_CHANS = 1
EMBED_DIM = 32
DEPTH = 2
NUM_HEADS = 2
MLP_RATIO = 2.0
NUM_CLASSES = 10
LN_EPS = 1e-6
NOISE_STD = 0.05

DEC_EMBED_DIM = 24
DEC_DEPTH = 1
DEC_NUM_HEADS = 2
MASK_RATIO = 0.75
RCMAE_GAMMA = 1.0

POINTS = [(0.0, 0.0), (0.5, -0.25), (-1.0, 1.0), (1.0, 0.3), (0.0, -0.75)]

NORM = partial(nn.LayerNorm, eps=LN_EPS)

# name -> (seed, constructor kwargs for timm VisionTransformer)
CLASSIFIERS = {
    "cls_token": (0, dict(class_token=True, global_pool="token", qkv_bias=True)),
    "avgpool_fcnorm": (1, dict(class_token=True, global_pool="avg", fc_norm=True, qkv_bias=True)),
    "no_qkv_bias": (2, dict(class_token=False, global_pool="avg", fc_norm=False, qkv_bias=False)),
}
MAE_SEEDS = {"mae": 3, "mae_teacher": 4}
EXPORTED_MODELS = ["cls_token", "avgpool_fcnorm", "no_qkv_bias", "mae", "cls_token_all", "mae_all"]
# export folder -> model file: the `_all` exports use directions that also move rank-1 tensors and
# position embeddings (vitscape --include-rank1 --include-pos-embed), so those paths are checked too.
EXPORT_MODEL = {"cls_token_all": "cls_token", "mae_all": "mae"}


def versions():
    return {"torch": torch.__version__, "timm": timm.__version__}


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------
def make_classifier(name):
    _, kw = CLASSIFIERS[name]
    return VisionTransformer(
        img_size=IMG_SIZE, patch_size=PATCH_SIZE, in_chans=IN_CHANS, num_classes=NUM_CLASSES,
        embed_dim=EMBED_DIM, depth=DEPTH, num_heads=NUM_HEADS, mlp_ratio=MLP_RATIO,
        norm_layer=NORM, **kw,
    )


class MaskedAutoencoderViT(nn.Module):
    """MAE following facebookresearch/mae models_mae.py (written independently), but
    with learnable (random) positional embeddings and caller-provided masking noise."""

    def __init__(self, img_size=IMG_SIZE, patch_size=PATCH_SIZE, in_chans=IN_CHANS,
                 embed_dim=EMBED_DIM, depth=DEPTH, num_heads=NUM_HEADS,
                 decoder_embed_dim=DEC_EMBED_DIM, decoder_depth=DEC_DEPTH,
                 decoder_num_heads=DEC_NUM_HEADS, mlp_ratio=MLP_RATIO, norm_layer=NORM,
                 norm_pix_loss=True):
        super().__init__()
        # encoder
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dim))
        self.blocks = nn.ModuleList([
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias=True, norm_layer=norm_layer)
            for _ in range(depth)])
        self.norm = norm_layer(embed_dim)
        # decoder
        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim, bias=True)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, decoder_embed_dim))
        self.decoder_blocks = nn.ModuleList([
            Block(decoder_embed_dim, decoder_num_heads, mlp_ratio, qkv_bias=True, norm_layer=norm_layer)
            for _ in range(decoder_depth)])
        self.decoder_norm = norm_layer(decoder_embed_dim)
        self.decoder_pred = nn.Linear(decoder_embed_dim, patch_size ** 2 * in_chans, bias=True)
        self.norm_pix_loss = norm_pix_loss
        self.initialize_weights()

    def initialize_weights(self):
        # as official, except positional embeddings are random instead of sin-cos
        nn.init.normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.decoder_pos_embed, std=0.02)
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)

    def patchify(self, imgs):
        p = self.patch_embed.patch_size[0]
        n, c = imgs.shape[0], imgs.shape[1]
        assert imgs.shape[2] == imgs.shape[3] and imgs.shape[2] % p == 0
        h = w = imgs.shape[2] // p
        x = imgs.reshape(n, c, h, p, w, p)
        x = torch.einsum("nchpwq->nhwpqc", x)
        return x.reshape(n, h * w, p * p * c)

    @staticmethod
    def random_masking(x, mask_ratio, noise):
        n, l, d = x.shape
        len_keep = int(l * (1 - mask_ratio))
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :len_keep]
        x_masked = torch.gather(x, dim=1, index=ids_keep.unsqueeze(-1).repeat(1, 1, d))
        mask = torch.ones([n, l], device=x.device, dtype=x.dtype)
        mask[:, :len_keep] = 0
        mask = torch.gather(mask, dim=1, index=ids_restore)
        return x_masked, mask, ids_restore

    def forward_encoder(self, x, mask_ratio, noise):
        x = self.patch_embed(x)
        x = x + self.pos_embed[:, 1:, :]
        x, mask, ids_restore = self.random_masking(x, mask_ratio, noise)
        cls_token = self.cls_token + self.pos_embed[:, :1, :]
        x = torch.cat((cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return x, mask, ids_restore

    def forward_decoder(self, x, ids_restore):
        x = self.decoder_embed(x)
        n_mask = ids_restore.shape[1] + 1 - x.shape[1]
        mask_tokens = self.mask_token.repeat(x.shape[0], n_mask, 1)
        x_ = torch.cat([x[:, 1:, :], mask_tokens], dim=1)
        x_ = torch.gather(x_, dim=1, index=ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2]))
        x = torch.cat([x[:, :1, :], x_], dim=1)
        x = x + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_norm(x)
        x = self.decoder_pred(x)
        return x[:, 1:, :]

    def forward_loss(self, imgs, pred, mask, norm_pix_loss=None):
        if norm_pix_loss is None:
            norm_pix_loss = self.norm_pix_loss
        target = self.patchify(imgs)
        if norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)  # unbiased
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        loss = ((pred - target) ** 2).mean(dim=-1)
        return (loss * mask).sum() / mask.sum()

    def forward(self, imgs, noise, mask_ratio=MASK_RATIO):
        latent, mask, ids_restore = self.forward_encoder(imgs, mask_ratio, noise)
        pred = self.forward_decoder(latent, ids_restore)
        return pred, mask


def make_mae():
    return MaskedAutoencoderViT()


def build(name):
    if name in CLASSIFIERS:
        return make_classifier(name)
    if name in MAE_SEEDS:
        return make_mae()
    raise KeyError(name)


def add_noise(model, gen_seed):
    """N(0, NOISE_STD) on every 1-D parameter and on tokens / positional embeddings."""
    g = torch.Generator().manual_seed(gen_seed)
    tokens = {"cls_token", "pos_embed", "mask_token", "decoder_pos_embed"}
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() == 1 or n in tokens:
                p.add_(torch.randn(p.shape, generator=g) * NOISE_STD)


def metadata_for(name):
    md = {"num_heads": str(NUM_HEADS), "layer_norm_eps": repr(LN_EPS),
          "generator": "tests/reference/reference.py models", **versions()}
    if name in CLASSIFIERS:
        _, kw = CLASSIFIERS[name]
        md.update({"format": "timm", "global_pool": kw["global_pool"],
                   "num_classes": str(NUM_CLASSES)})
    else:
        md.update({"format": "mae", "decoder_num_heads": str(DEC_NUM_HEADS),
                   "norm_pix_loss": "true", "mask_ratio": repr(MASK_RATIO)})
    return md


def cmd_models(args):
    os.makedirs(args.out, exist_ok=True)
    seeds = {**{k: v[0] for k, v in CLASSIFIERS.items()}, **MAE_SEEDS}
    for name, seed in seeds.items():
        torch.manual_seed(seed)
        model = build(name)
        add_noise(model, 1000 + seed)
        sd = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
        assert set(sd) == {n for n, _ in model.named_parameters()}, "unexpected buffers"
        path = os.path.join(args.out, f"{name}.safetensors")
        save_file(sd, path, metadata=metadata_for(name))
        nparam = sum(v.numel() for v in sd.values())
        print(f"{path}: {len(sd)} tensors, {nparam} parameters, {os.path.getsize(path)} bytes")
        if args.verbose:
            for k, v in sd.items():
                print(f"  {k} {tuple(v.shape)}")


# ---------------------------------------------------------------------------
# Loading and evaluation
# ---------------------------------------------------------------------------
def load_model(models_dir, name):
    path = os.path.join(models_dir, f"{name}.safetensors")
    with safe_open(path, framework="pt") as f:
        md = f.metadata() or {}
    assert int(md["num_heads"]) == NUM_HEADS, md
    if name in MAE_SEEDS:
        assert md["format"] == "mae" and int(md["decoder_num_heads"]) == DEC_NUM_HEADS, md
    else:
        assert md["format"] == "timm", md
    model = build(name)
    model.load_state_dict(load_file(path), strict=True)
    model.eval()
    return model


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def perturbed(model, pristine, dx, dy, alpha, beta):
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(pristine[n] + alpha * dx[n] + beta * dy[n])


def check_directions(model, dx, dy, name):
    params = {n: p for n, p in model.named_parameters()}
    for tag, d in (("direction_x", dx), ("direction_y", dy)):
        extra = sorted(set(d) - set(params))
        missing = sorted(set(params) - set(d))
        assert not extra and not missing, f"{name}/{tag}: extra={extra} missing={missing}"
        for n, t in d.items():
            assert t.dtype == torch.float32, f"{name}/{tag}/{n}: dtype {t.dtype}"
            assert tuple(t.shape) == tuple(params[n].shape), \
                f"{name}/{tag}/{n}: shape {tuple(t.shape)} vs {tuple(params[n].shape)}"
            assert torch.isfinite(t).all(), f"{name}/{tag}/{n}: non-finite"


def eval_classifier(model, images, labels):
    with torch.no_grad():
        logits = model(images)
        loss = F.cross_entropy(logits, labels).item()
        acc = (logits.argmax(dim=-1) == labels).to(torch.float64).mean().item()
    return logits, loss, acc


def eval_mae(model, teacher, images, noise):
    with torch.no_grad():
        pred, mask = model(images, noise, MASK_RATIO)
        loss_np = model.forward_loss(images, pred, mask, norm_pix_loss=True).item()
        loss_raw = model.forward_loss(images, pred, mask, norm_pix_loss=False).item()
        pred_t, mask_t = teacher(images, noise, MASK_RATIO)
        assert torch.equal(mask, mask_t)
        cons = ((pred - pred_t) ** 2).mean(dim=-1)
        cons = ((cons * mask).sum() / mask.sum()).item()
    return {"loss_norm_pix": loss_np, "loss_raw": loss_raw,
            "rcmae_consistency": cons, "rcmae_total": loss_np + RCMAE_GAMMA * cons}


def evaluate_model(args, name, dtype):
    exp = os.path.join(args.exports, name)
    dx = load_file(os.path.join(exp, "direction_x.safetensors"))
    dy = load_file(os.path.join(exp, "direction_y.safetensors"))
    data = load_file(os.path.join(exp, "eval_data.safetensors"))
    model_name = EXPORT_MODEL.get(name, name)
    model = load_model(args.models, model_name)
    check_directions(model, dx, dy, name)
    images = data["images"]
    assert images.dtype == torch.float32 and images.dim() == 4 and \
        tuple(images.shape[1:]) == (IN_CHANS, IMG_SIZE, IMG_SIZE), (images.dtype, images.shape)
    n = images.shape[0]
    teacher = None
    if model_name == "mae":
        noise = data["mask_noise"]
        assert noise.dtype == torch.float32 and tuple(noise.shape) == (n, model.patch_embed.num_patches)
        teacher = load_model(args.models, "mae_teacher").to(dtype)
        noise = noise.to(dtype)
    else:
        labels = data["labels"]
        assert labels.dtype == torch.int64 and tuple(labels.shape) == (n,)
        assert int(labels.min()) >= 0 and int(labels.max()) < NUM_CLASSES
    model = model.to(dtype)
    images = images.to(dtype)
    dx = {k: v.to(dtype) for k, v in dx.items()}
    dy = {k: v.to(dtype) for k, v in dy.items()}
    pristine = {k: p.detach().clone() for k, p in model.named_parameters()}
    rows, logits0 = [], None
    for a, b in POINTS:
        perturbed(model, pristine, dx, dy, a, b)
        row = {"alpha": a, "beta": b}
        if model_name == "mae":
            row.update(eval_mae(model, teacher, images, noise))
        else:
            logits, loss, acc = eval_classifier(model, images, labels)
            row.update({"loss": loss, "accuracy": acc})
            if a == 0.0 and b == 0.0:
                logits0 = [float(v) for v in logits[0].tolist()]
        for k, v in row.items():
            assert math.isfinite(v), f"{name} {k} at ({a},{b}) is {v}"
        rows.append(row)
    files = {os.path.relpath(p, args.exports): sha256(p) for p in
             [os.path.join(exp, f) for f in sorted(os.listdir(exp)) if f.endswith(".safetensors")]}
    direction_stats = {
        "cosine_x_y": float(sum((dx[k].double() * dy[k].double()).sum() for k in dx) /
                            math.sqrt(sum((dx[k].double() ** 2).sum() for k in dx) *
                                      sum((dy[k].double() ** 2).sum() for k in dy))),
        "zero_tensors_x": sorted(k for k, v in dx.items() if not bool(v.any())),
    }
    return rows, logits0, n, files, direction_stats


def cmd_evaluate(args):
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    out = {**versions(), "points": [[a, b] for a, b in POINTS], "mask_ratio": MASK_RATIO,
           "rcmae_gamma": RCMAE_GAMMA, "dtype": "float32", "models": {}, "debug_logits0": {},
           "num_images": {}, "inputs": {}, "direction_stats": {},
           "float64_max_abs_diff": {}}
    for f in sorted(os.listdir(args.models)):
        if f.endswith(".safetensors"):
            out["inputs"][f"models/{f}"] = sha256(os.path.join(args.models, f))
    for name in EXPORTED_MODELS:
        rows, logits0, n, files, dstats = evaluate_model(args, name, torch.float32)
        out["models"][name] = rows
        out["num_images"][name] = n
        out["direction_stats"][name] = dstats
        for k, v in files.items():
            out["inputs"][f"exports/{k}"] = v
        if logits0 is not None:
            out["debug_logits0"][name] = logits0
        # the same evaluation in float64, as a yardstick for tolerances
        rows64, _, _, _, _ = evaluate_model(args, name, torch.float64)
        out["float64_max_abs_diff"][name] = max(
            abs(r[k] - r64[k]) for r, r64 in zip(rows, rows64) for k in r if k not in ("alpha", "beta"))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    # json.dump writes floats with repr(), i.e. shortest round-tripping form
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    for name, rows in out["models"].items():
        print(name)
        for r in rows:
            print("  " + ", ".join(f"{k}={v!r}" for k, v in r.items()))
    print("float64 max |diff|:", out["float64_max_abs_diff"])
    print("wrote", args.out)


# ---------------------------------------------------------------------------
# Fake exports (self-test of `evaluate` before the Rust exporter exists)
# ---------------------------------------------------------------------------
def fake_direction(model, g):
    """Filter-normalised Gaussian direction, rank-1 tensors and positional embeddings zeroed."""
    d = {}
    for n, p in model.named_parameters():
        if p.dim() <= 1 or n in ("pos_embed", "decoder_pos_embed"):
            d[n] = torch.zeros_like(p)
            continue
        r = torch.randn(p.shape, generator=g)
        w2, r2 = p.detach().reshape(p.shape[0], -1), r.reshape(p.shape[0], -1)
        if n in ("cls_token", "mask_token"):  # one filter each
            w2, r2 = p.detach().reshape(1, -1), r.reshape(1, -1)
        scale = w2.norm(dim=1, keepdim=True) / (r2.norm(dim=1, keepdim=True) + 1e-10)
        d[n] = (r2 * scale).reshape(p.shape).contiguous()
    return d


def cmd_fake_exports(args):
    g = torch.Generator().manual_seed(args.seed)
    n = args.num_images
    for name in EXPORTED_MODELS:
        model = load_model(args.models, EXPORT_MODEL.get(name, name))
        out = os.path.join(args.out, name)
        os.makedirs(out, exist_ok=True)
        save_file(fake_direction(model, g), os.path.join(out, "direction_x.safetensors"))
        save_file(fake_direction(model, g), os.path.join(out, "direction_y.safetensors"))
        data = {"images": torch.randn((n, IN_CHANS, IMG_SIZE, IMG_SIZE), generator=g),
                "labels": torch.randint(0, NUM_CLASSES, (n,), generator=g, dtype=torch.int64)}
        if EXPORT_MODEL.get(name, name) == "mae":
            data["mask_noise"] = torch.rand((n, model.patch_embed.num_patches), generator=g)
        save_file(data, os.path.join(out, "eval_data.safetensors"))
        print("wrote", out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("models", help="write the tiny fixture models")
    p.add_argument("--out", default="tests/fixtures/models")
    p.add_argument("--verbose", action="store_true", help="list state-dict keys and shapes")
    p.set_defaults(fn=cmd_models)
    p = sub.add_parser("evaluate", help="evaluate losses at POINTS on vitscape's exports")
    p.add_argument("--models", default="tests/fixtures/models")
    p.add_argument("--exports", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_evaluate)
    p = sub.add_parser("fake-exports", help="write random exports in vitscape's format (self-test)")
    p.add_argument("--models", default="tests/fixtures/models")
    p.add_argument("--out", default="/tmp/fake_exports")
    p.add_argument("--num-images", type=int, default=32)
    p.add_argument("--seed", type=int, default=12345)
    p.set_defaults(fn=cmd_fake_exports)
    args = ap.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
