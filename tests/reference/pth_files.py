#!/usr/bin/env python3
"""PyTorch checkpoint fixtures for vitscape's `.pth` / `.bin` reader (issue #12).

Writes, into --out (default tests/fixtures/pth):

* the tiny fixture models of tests/fixtures/models, saved by torch.save in every layout
  researchers' files come in (see LAYOUTS below), so the Rust tests can check that each loads to
  exactly the tensors of the safetensors file;
* hostile pickles, each a real exploit: the generator proves it by letting Python's own
  `pickle.loads` run it in a subprocess, which creates a marker file (recorded as
  `python_ran: true` in hostile.json). vitscape must refuse every one with a message naming the
  global, and the marker must not appear;
* pickle bombs: small files whose naive reading would take exponential time or gigabytes
  (shared dicts, one tensor under many names, a BUILD repeated), and a file of optimizer state
  only, each with the message vitscape must give;
* manifest.json: per file, the layout, the safetensors file it must equal, the branch, and the
  source description vitscape should give.

CI never runs this script; its outputs are committed. Run from the repository root:

    python3 tests/reference/pth_files.py --out tests/fixtures/pth
"""

import argparse
import collections
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile

import torch
from safetensors.torch import load_file

MODELS = "tests/fixtures/models"
MARKER_DIR = "/tmp/vitscape-hostile-markers"
# hostile cases whose zip variant is a whole torch.save file rather than a replaced data.pkl
WHOLE_FILES = {}


def sd(name):
    return collections.OrderedDict(sorted(load_file(os.path.join(MODELS, name + ".safetensors")).items()))


def prefixed(state, prefix):
    return collections.OrderedDict((prefix + k, v) for k, v in state.items())


def layouts():
    cls = sd("cls_token")
    mae = sd("mae")
    teacher = sd("mae_teacher")
    args = argparse.Namespace(model="vit_tiny_fixture", lr=1.5e-4, batch_size=64, epochs=800,
                              input_size=28, mask_ratio=0.75, norm_pix_loss=True, output_dir=None,
                              resume="", dist_url="env://", layer_decay=[0.75], seed=0)
    optimizer = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4)}},
                 "param_groups": [{"lr": 1e-4, "params": [0]}]}
    fp16 = collections.OrderedDict((k, v.half()) for k, v in cls.items())
    # a non-contiguous view (the transpose of a transpose) and a slice at a storage offset
    strided = collections.OrderedDict(cls)
    w = strided["head.weight"]
    strided["head.weight"] = w.t().contiguous().t()
    big = torch.cat([torch.zeros(5), strided["head.bias"]])
    strided["head.bias"] = big[5:]
    params = collections.OrderedDict((k, torch.nn.Parameter(v)) for k, v in cls.items())
    with_buffers = collections.OrderedDict(cls)
    with_buffers["fc_norm.num_batches_tracked"] = torch.tensor(7)
    return {
        # name: (object, zip?, equals, branch, source)
        "plain.pth": (cls, True, "cls_token", None, "PyTorch zip checkpoint, a plain state dict"),
        "plain_legacy.pth": (cls, False, "cls_token", None, "legacy PyTorch checkpoint, a plain state dict"),
        "pytorch_model.bin": (cls, True, "cls_token", None, "PyTorch zip checkpoint, a plain state dict"),
        "deit.pth": ({"model": cls, "optimizer": optimizer, "lr_scheduler": {"last_epoch": 3},
                      "epoch": 299, "args": args}, True, "cls_token", None,
                     "PyTorch zip checkpoint, state dict under 'model' (not read: 'args', 'epoch', 'lr_scheduler', 'optimizer')"),
        "mae_pretrain.pth": ({"model": mae}, True, "mae", None,
                             "PyTorch zip checkpoint, state dict under 'model'"),
        "mae_full.pth": ({"model": mae, "optimizer": optimizer, "epoch": 799, "scaler": {"scale": 65536.0},
                          "args": args}, True, "mae", None,
                         "PyTorch zip checkpoint, state dict under 'model' (not read: 'args', 'epoch', 'optimizer', 'scaler')"),
        "ddp.pth": ({"state_dict": prefixed(cls, "module."), "epoch": 3}, True, "cls_token", None,
                    "PyTorch zip checkpoint, state dict under 'state_dict' (not read: 'epoch')"),
        "rcmae.pth": ({"student": prefixed(mae, "module."), "teacher": prefixed(teacher, "module."),
                       "epoch": 1, "args": args}, True, "mae_teacher", "teacher",
                      "PyTorch zip checkpoint, state dict under 'student' and 'teacher' (not read: 'args', 'epoch')"),
        "fp16.pth": (fp16, True, "cls_token_fp16", None, "PyTorch zip checkpoint, a plain state dict"),
        "strided.pth": (strided, True, "cls_token", None, "PyTorch zip checkpoint, a plain state dict"),
        "parameters.pth": (params, True, "cls_token", None, "PyTorch zip checkpoint, a plain state dict"),
        "buffers.pth": (with_buffers, True, "cls_token", None, "PyTorch zip checkpoint, a plain state dict"),
    }


class Reduce:
    """An object whose unpickling calls fn(*args)."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def hostile():
    """(name, pickle bytes); each creates MARKER_DIR/<name> when Python unpickles it. The
    global vitscape must name is read from the bytes by first_refused."""
    import builtins
    import posix
    import runpy  # noqa: F401
    import shutil

    out = []

    def marker(name):
        return os.path.join(MARKER_DIR, name)

    def touch_cmd(name):
        return "touch " + marker(name)

    def add(name, obj, protocol=2):
        out.append((name, pickle.dumps(obj, protocol=protocol)))

    add("os_system", Reduce(os.system, (touch_cmd("os_system"),)))
    add("os_system_p4", Reduce(os.system, (touch_cmd("os_system_p4"),)), protocol=4)
    add("exec", Reduce(builtins.exec, (f"open({marker('exec')!r}, 'w').close()",)))
    add("eval", Reduce(builtins.eval, (f"open({marker('eval')!r}, 'w').close()",)))
    add("subprocess", Reduce(subprocess.call, (["touch", marker("subprocess")],)))
    add("popen", Reduce(subprocess.Popen, (["touch", marker("popen")],)))
    add("posix_system", Reduce(posix.system, (touch_cmd("posix_system"),)))
    add("builtins_open", Reduce(builtins.open, (marker("builtins_open"), "w")))
    add("shutil", Reduce(shutil.copyfile, ("/etc/hostname", marker("shutil"))))
    add("nested_pickle", Reduce(pickle.loads, (pickle.dumps(Reduce(os.system, (touch_cmd("nested_pickle"),))),)))
    # an exploit hidden inside an otherwise ordinary state dict
    state = collections.OrderedDict(w=torch.zeros(2), evil=Reduce(os.system, (touch_cmd("in_state_dict"),)))
    legacy, zipped = io.BytesIO(), io.BytesIO()
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    torch.save(state, zipped)
    out.append(("in_state_dict", legacy.getvalue()))
    WHOLE_FILES["in_state_dict"] = zipped.getvalue()
    # protocol-0 INST opcode: builds an arbitrary class without GLOBAL
    inst = b"(S'" + touch_cmd("inst").encode() + b"'\nios\nsystem\n."
    out.append(("inst_opcode", inst))
    return out


ALLOWED = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "argparse.Namespace",
           "_codecs.encode", "torch.FloatStorage", "torch.LongStorage"}


def first_refused(payload):
    """The first global (module.name) the payload names that a state dict does not need, as
    Python's pickletools reads it, The payload may be a whole legacy
    torch file (several pickles in a row)."""
    import pickletools
    stream = io.BytesIO(payload)
    while stream.tell() < len(payload):
        strings = []
        try:
            for op, arg, _ in pickletools.genops(stream):
                if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                    strings.append(arg)
                if op.name == "INST":
                    return arg.replace(" ", ".")
                name = None
                if op.name == "GLOBAL":
                    name = arg.replace(" ", ".")
                elif op.name == "STACK_GLOBAL":
                    name = ".".join(strings[-2:])
                if name and name not in ALLOWED:
                    return name
        except ValueError:
            break
    raise SystemExit("payload names nothing refused")


def write_hostile_zip(path, payload):
    """A zip-format checkpoint whose data.pkl is the payload."""
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = payload if info.filename.endswith("data.pkl") else src.read(info.filename)
            dst.writestr(info.filename, data)


def python_runs():
    """Python code that loads a file as a user would: torch.load(weights_only=False) (the default
    before PyTorch 2.6, and what many READMEs still say), else pickle.load."""
    return ("import pickle,sys,torch\n"
            "try:\n    torch.load(sys.argv[1], weights_only=False)\n"
            "except Exception:\n"
            "    try:\n        pickle.load(open(sys.argv[1],'rb'))\n    except Exception:\n        pass\n")


# Opcode builders for hand-made pickles (protocol 2).
def op_global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def op_str(text):
    data = text.encode()
    return b"X" + len(data).to_bytes(4, "little") + data


def op_int(n):
    return b"J" + n.to_bytes(4, "little", signed=True)


def op_put(i):
    return b"r" + i.to_bytes(4, "little")


def op_get(i):
    return b"j" + i.to_bytes(4, "little")


def op_tensor(numel):
    """_rebuild_tensor_v2 of storage '0' (FloatStorage) with `numel` elements."""
    return (op_global("torch._utils", "_rebuild_tensor_v2") + b"((" + op_str("storage")
            + op_global("torch", "FloatStorage") + op_str("0") + op_str("cpu") + op_int(numel)
            + b"tQ" + op_int(0) + b"(" + op_int(numel) + b"t(" + op_int(1) + b"t\x89"
            + op_global("collections", "OrderedDict") + b")Rt" + b"R")


def bombs():
    """(name, data.pkl, what vitscape must say): small files whose naive reading would take
    exponential time, or gigabytes of memory."""
    out = []
    # 15 levels of dicts, each holding the one below 10 times: 10^15 names if followed naively.
    # (The stack ends with the root: {'model': level 15}.)
    p = b"\x80\x02}" + op_put(0) + b"(" + op_str("w") + op_tensor(2) + b"u"
    for level in range(1, 16):
        p += b"}" + op_put(level) + b"("
        for j in range(10):
            p += op_str(str(j)) + op_get(level - 1)
        p += b"u"
    # under 'model', as MAE saves: the state dict itself is the bomb
    p += b"}" + op_put(100) + op_str("model") + op_get(15) + b"s0" + op_get(100)
    out.append(("shared_dicts", p + b".", "same dict twice"))
    # one memoised tensor of 4 MB under 200 names: 800 MB decoded from a ~3 KB pickle.
    p = b"\x80\x02}" + op_put(0) + b"(" + op_str("t0") + op_tensor(1_000_000) + op_put(1)
    for j in range(1, 200):
        p += op_str(f"t{j}") + op_get(1)
    out.append(("many_names", p + b"u.", "add up to more than"))
    # a Namespace rebuilt from a memoised 1000-entry dict 100 000 times: 10^8 copied entries.
    p = b"\x80\x02" + op_global("argparse", "Namespace") + b")\x81" + op_put(0)
    p += b"}" + op_put(1) + b"("
    for j in range(1000):
        p += op_str(f"k{j}") + op_int(j)
    p += b"u0"
    p += (op_get(1) + b"b") * 100_000
    out.append(("build_bomb", p + b".", "pickle bomb"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/pth")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    manifest = {"torch": torch.__version__, "generator": "tests/reference/pth_files.py", "files": {}}
    for name, (obj, zipped, equals, branch, source) in layouts().items():
        path = os.path.join(args.out, name)
        torch.save(obj, path, _use_new_zipfile_serialization=zipped)
        # the file must load back in PyTorch with weights_only (its own restricted unpickler)
        with torch.serialization.safe_globals([argparse.Namespace]):
            torch.load(path, weights_only=True)
        manifest["files"][name] = {"equals": equals, "branch": branch, "source": source}
    # the fp16 reference values, so the test compares exactly
    from safetensors.torch import save_file
    save_file({k: v.half().float() for k, v in sd("cls_token").items()},
              os.path.join(args.out, "cls_token_fp16.safetensors"))

    os.makedirs(MARKER_DIR, exist_ok=True)
    hostile_manifest = {}
    hdir = os.path.join(args.out, "hostile")
    os.makedirs(hdir, exist_ok=True)
    for name, payload in hostile():
        named = first_refused(payload)
        for zipped in (True, False):
            fname = f"{name}.{'pth' if zipped else 'pkl'}"
            path = os.path.join(hdir, fname)
            if zipped and name in WHOLE_FILES:
                with open(path, "wb") as f:
                    f.write(WHOLE_FILES[name])
            elif zipped:
                write_hostile_zip(path, payload)
            else:
                with open(path, "wb") as f:
                    f.write(payload)
            for m in os.listdir(MARKER_DIR):
                os.remove(os.path.join(MARKER_DIR, m))
            subprocess.run([sys.executable, "-c", python_runs(), path],
                           check=True, capture_output=True)
            ran = len(os.listdir(MARKER_DIR)) > 0
            hostile_manifest[fname] = {"names": named, "python_ran": ran}
    for m in os.listdir(MARKER_DIR):
        os.remove(os.path.join(MARKER_DIR, m))
    manifest["hostile"] = hostile_manifest
    bomb_manifest = {}
    for name, payload, says in bombs():
        fname = f"{name}.pth"
        write_hostile_zip(os.path.join(hdir, fname), payload)
        bomb_manifest[fname] = says
    # optimizer state only: its tensors must never be taken for the weights
    torch.save({"optimizer": {"state": {0: {"exp_avg": torch.zeros(4)}}}, "epoch": 3},
               os.path.join(hdir, "optimizer_only.pth"))
    bomb_manifest["optimizer_only.pth"] = "no tensors anywhere"
    manifest["bombs"] = bomb_manifest
    manifest["marker_dir"] = MARKER_DIR
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps(hostile_manifest, indent=1))


if __name__ == "__main__":
    main()
