#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into fuzz/seeds/TARGET/ (committed; run by hand:
`python3 fuzz/seeds.py`, needs torch and Pillow). Every seed is a small valid input, or one of
the hostile files the tests already hold; a seed of a target that takes a mode byte starts with it.

Surfaces for the permalink and message seeds are two small `vitscape sweep` outputs
(fuzz/surface-2d.json, fuzz/surface-1d.json)."""
import gzip, io, json, struct, sys, zipfile, zlib, base64
from pathlib import Path

import torch
from PIL import Image

here = Path(__file__).resolve().parent
root = here.parent
out = here / "seeds"


def put(target, name, data):
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def tiny_vit(dim=8, depth=1, patch=4, img=8, chans=1, classes=10, decoder=False):
    """A timm-named ViT state dict with tiny shapes (a real architecture for the readers)."""
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g)
    tokens = (img // patch) ** 2 + 1
    sd = {
        "cls_token": r(1, 1, dim),
        "pos_embed": r(1, tokens, dim),
        "patch_embed.proj.weight": r(dim, chans, patch, patch),
        "patch_embed.proj.bias": r(dim),
    }
    for b in range(depth):
        p = f"blocks.{b}."
        sd |= {
            p + "norm1.weight": r(dim), p + "norm1.bias": r(dim),
            p + "attn.qkv.weight": r(3 * dim, dim), p + "attn.qkv.bias": r(3 * dim),
            p + "attn.proj.weight": r(dim, dim), p + "attn.proj.bias": r(dim),
            p + "norm2.weight": r(dim), p + "norm2.bias": r(dim),
            p + "mlp.fc1.weight": r(4 * dim, dim), p + "mlp.fc1.bias": r(4 * dim),
            p + "mlp.fc2.weight": r(dim, 4 * dim), p + "mlp.fc2.bias": r(dim),
        }
    sd |= {"norm.weight": r(dim), "norm.bias": r(dim)}
    if decoder:
        sd |= {
            "mask_token": r(1, 1, dim),
            "decoder_embed.weight": r(dim, dim), "decoder_embed.bias": r(dim),
            "decoder_pos_embed": r(1, tokens, dim),
            "decoder_norm.weight": r(dim), "decoder_norm.bias": r(dim),
            "decoder_pred.weight": r(patch * patch * chans, dim),
            "decoder_pred.bias": r(patch * patch * chans),
        }
    else:
        sd |= {"head.weight": r(classes, dim), "head.bias": r(classes)}
    return sd


def safetensors(sd, metadata=None, dtype=torch.float32):
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
    header, blobs, offset = {}, [], 0
    for k, v in sd.items():
        b = v.to(dtype).contiguous().view(torch.uint8).numpy().tobytes()
        header[k] = {"dtype": names[dtype], "shape": list(v.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def torch_bytes(obj, legacy=False):
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def main():
    # Start afresh, except the inputs fuzzing found (`regression-*`): every CI run replays them.
    for f in out.glob("*/*"):
        if not f.name.startswith("regression-"):
            f.unlink()
    sup, mae = tiny_vit(), tiny_vit(decoder=True)

    # safetensors (mode byte: 0 no branch, 1 student, 2 teacher)
    put("safetensors", "sup", b"\0" + safetensors(sup))
    put("safetensors", "sup-heads", b"\0" + safetensors(sup, {"num_heads": "2"}))
    put("safetensors", "mae-f16", b"\0" + safetensors(mae, {"num_heads": "2", "decoder_num_heads": "1"}, torch.float16))
    put("safetensors", "bf16", b"\0" + safetensors(sup, None, torch.bfloat16))
    rc = {f"student.{k}": v for k, v in mae.items()} | {f"teacher.{k}": v for k, v in mae.items()}
    put("safetensors", "rcmae-teacher", b"\2" + safetensors(rc))
    put("safetensors", "hessian-tiny", b"\0" + (root / "tests/fixtures/models/hessian_tiny.safetensors").read_bytes())

    # PyTorch checkpoints (no mode byte)
    put("pth", "zip", torch_bytes(sup))
    put("pth", "legacy", torch_bytes(sup, legacy=True))
    put("pth", "model-key", torch_bytes({"model": mae, "epoch": 3}))
    put("pth", "state-dict-f16", torch_bytes({"state_dict": {k: v.half() for k, v in sup.items()}}))
    put("pth", "module-prefix", torch_bytes({f"module.{k}": v for k, v in sup.items()}))
    put("pth", "safetensors", safetensors(sup))
    for f in sorted((root / "tests/fixtures/pth/hostile").iterdir()):
        if f.stat().st_size <= 4096:
            put("pth", "hostile-" + f.name, f.read_bytes())

    # images (mode byte: bit 0 one file / zip, bit 1 RGB, bits 2-3 preprocessing)
    def png(img, fmt="PNG", **kw):
        b = io.BytesIO()
        img.save(b, fmt, **kw)
        return b.getvalue()
    gray = Image.linear_gradient("L").resize((16, 16))
    rgb = Image.merge("RGB", [gray, gray.rotate(90), gray.rotate(180)])
    singles = {
        "gray.png": png(gray), "rgb.png": png(rgb.resize((24, 20))), "rgba.png": png(rgb.convert("RGBA")),
        "i16.png": png(gray.convert("I;16")), "palette.png": png(rgb.convert("P")),
        "rgb.jpg": png(rgb, "JPEG", quality=80), "progressive.jpg": png(rgb.resize((20, 24)), "JPEG", progressive=True),
        "gray.jpg": png(gray, "JPEG"),
    }
    for i, (name, data) in enumerate(singles.items()):
        put("images", name, bytes([1 | (2 * (i % 2)) | (4 * (i % 4))]) + data)
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("set/cat/a.png", singles["rgb.png"])
        zf.writestr("set/dog/b.jpg", singles["rgb.jpg"])
        zf.writestr("set/readme.txt", "not an image")
    put("images", "classes.zip", b"\2" + z.getvalue())
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.png", singles["gray.png"])
    put("images", "flat.zip", b"\4" + z.getvalue())

    # IDX (mode byte 0: the .gz file; otherwise the raw IDX, gzip'd by the target)
    idx3 = struct.pack(">IIII", 0x803, 2, 4, 4) + bytes(range(32))
    idx1 = struct.pack(">II", 0x801, 2) + bytes([3, 7])
    put("idx", "images.gz", b"\0" + gzip.compress(idx3))
    put("idx", "labels.gz", b"\0" + gzip.compress(idx1))
    put("idx", "images.raw", b"\1" + idx3)
    put("idx", "labels.raw", b"\1" + idx1)

    # permalinks (mode byte 0: the fragment; otherwise the JSON inside it)
    s2 = json.loads((here / "surface-2d.json").read_text())
    s1 = json.loads((here / "surface-1d.json").read_text())

    def quantised(grid):
        vals = [v for row in grid for v in row if v is not None]
        lo, hi = min(vals), max(vals)
        step = (hi - lo) / 65534 or 1
        return {"lo": lo, "hi": hi, "q": [65535 if v is None else round((v - lo) / step) for row in grid for v in row]}

    def panel(label, s):
        return {"label": label, "spec": s["spec"], "vitscape_version": s["vitscape_version"], "info": s["info"],
                "metrics": {k: quantised(g) for k, g in s["metrics"].items()}}

    view = {"plot": "contour", "metric": "loss", "log_scale": False, "shared_scale": True, "levels": 12, "yaw": 0.7, "pitch": 0.35}
    wire = {"v": 1, "view": view, "panels": [panel("MAE", s2), panel("Sup", s1)]}
    text = json.dumps(wire).encode()
    put("permalink", "two-panels.json", b"\1" + text)
    put("permalink", "surface-view.json", b"\1" + json.dumps(wire | {"view": view | {"plot": "surface", "levels": 1000000000, "metric": "nope", "pitch": 9}}).encode())
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    frag = "vitscape1." + base64.urlsafe_b64encode(z.compress(text) + z.flush()).decode().rstrip("=")
    put("permalink", "fragment", b"\0#" + frag.encode())

    # page <-> worker messages (mode byte even: a request with mode/2 attachments; odd: a reply)
    zipped = {"label": "MAE", "spec": s2["spec"], "checkpoint": 0, "teacher": None, "data": {"kind": "zip", "index": 1}}
    files = zipped | {"data": {"kind": "files", "first": 1, "names": ["cat/a.png", "dog/b.png"]}}
    demo = zipped | {"data": {"kind": "demo-subset", "images": 1, "labels": 2, "subset": {
        "images_file": "eval-images-idx3-ubyte.gz", "labels_file": "eval-labels-idx1-ubyte.gz", "n": 8, "seed": 0,
        "mean": 0.286, "std": 0.353, "images_sha256": "0" * 64, "labels_sha256": "0" * 64, "mask_seed": 0}}}
    request = {"job": 3, "panels": [zipped], "cells_per_read": 4, "prefer_gpu": False, "task": {"kind": "sweep"}, "share": {"index": 0, "count": 1}}
    power = {"k": 1, "max_iterations": 100, "tolerance": 1e-3, "seed": 0}
    put("message", "sweep-zip", bytes([2 * 2]) + json.dumps(request).encode())
    put("message", "sweep-files", bytes([3 * 2]) + json.dumps(request | {"panels": [files], "share": {"index": 1, "count": 2}}).encode())
    put("message", "top-demo", bytes([3 * 2]) + json.dumps(request | {"panels": [demo], "task": {"kind": "top-eigenvalue", "settings": power, "trace_samples": 4, "spectrum_batch": 2}}).encode())
    put("message", "convexity", bytes([2 * 2]) + json.dumps(request | {"task": {"kind": "convexity-map", "settings": power, "points": 5}}).encode())
    put("message", "hessian-plane", bytes([2 * 2]) + json.dumps(request | {"task": {"kind": "hessian-plane", "settings": power | {"k": 2, "tolerance": 1e-6}}}).encode())
    on_files = s2["spec"] | {"directions": s2["spec"]["directions"] | {"source": {"kind": "files", "x": {"name": "pca_1.safetensors", "sha256": "1" * 64}, "y": {"name": "pca_2.safetensors", "sha256": "2" * 64}}}}
    put("message", "sweep-direction-files", bytes([4 * 2]) + json.dumps(request | {"panels": [zipped | {"spec": on_files, "files": {"directions": [2, 3]}}]}).encode())
    replies = [
        {"kind": "ready", "version": "0.1.0"},
        {"kind": "eigenvectors", "job": 3, "panel": 0, "eigen": [{"value": 4.5, "iterations": 30, "converged": True}], "files": ["eigenvector_1.safetensors"],
         "step_check": {"products": 30, "gradients": 120, "max_relative_truncation": 1e-4, "min_relative_step": 5e-4}, "elapsed": 3.0},
        {"kind": "backend", "job": 3, "name": "CPU", "gpu": False, "detail": "no adapter"},
        {"kind": "started", "job": 3, "panel": 0, "surface": s2, "files": ["direction_x.safetensors"]},
        {"kind": "cells", "job": 3, "panel": 0, "cells": [{"ix": 1, "iy": 2, "values": {"loss": 0.5}}], "elapsed": 1.5, "images_per_second": 100.0, "flops_per_image": 1e6},
        {"kind": "done", "job": 3, "elapsed": 2.0},
        {"kind": "failed", "job": 3, "panel": 0, "message": "boom"},
    ]
    for r in replies:
        put("message", "reply-" + r["kind"], b"\1" + json.dumps(r).encode())
    print("seeds:", {d.name: len(list(d.iterdir())) for d in sorted(out.iterdir())})


if __name__ == "__main__":
    sys.exit(main())
