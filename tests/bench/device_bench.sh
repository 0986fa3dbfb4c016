#!/usr/bin/env bash
# Benchmarks on a GPU machine lent by the workplace's device tool (no cargo there): run from the
# repository root with a stripped, gzip'd `vitscape` built here with `--features wgpu` in gpubin/, the
# Vulkan loader packages in .gl/ and the Fashion-MNIST test files in gpubin/fmnist/.
# Prints the same table rows as `vitscape bench` and `tests/reference/bench_torch.py`, and checks
# that a sweep on wgpu gives the numbers of the CPU backend.
set -uo pipefail
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
export XDG_RUNTIME_DIR=/tmp/xdg; mkdir -p -m 700 "$XDG_RUNTIME_DIR"
out=${OUT:-/tmp/out}; mkdir -p "$out"
B=/tmp/vitscape
gzip -dc gpubin/vitscape.gz > "$B" && chmod +x "$B"
nvidia-smi -L; nproc
echo "## vitscape bench, wgpu (Vulkan), 256 images/cell, K = 1, 4, 16, 64 cells per dispatch"
timeout 240 $B bench --devices wgpu --images 256 --cells 64 --cells-per-forward 1 4 16 64
echo "## wgpu vs flex on the same sweep"
for d in flex wgpu; do
  timeout 90 $B sweep --checkpoint tests/fixtures/models/cls_token.safetensors --data-dir gpubin/fmnist \
    --eval-images 256 --grid -1:1:5 -1:1:5 --seed 123 --no-plots --device $d --out "$out/sweep_$d" 2>&1 | tail -1
done
python3 - "$out" <<'PY'
import json, sys
a = json.load(open(sys.argv[1] + "/sweep_flex/surface.json"))["metrics"]["loss"]
b = json.load(open(sys.argv[1] + "/sweep_wgpu/surface.json"))["metrics"]["loss"]
rel = max(abs(x - y) / abs(x) for ra, rb in zip(a, b) for x, y in zip(ra, rb))
print(f"max relative difference wgpu vs flex over 25 cells: {rel:.3e}")
PY
echo "## Hessian-vector products on wgpu vs flex (issue #9): the trained reference ViT, 128 images"
# The exact values are in tests/fixtures/curvature_trained.json (λ1..3 = 107.9, 86.5, 69.6); the
# step check and the eigenvalues on wgpu must match flex's.
for d in flex wgpu; do
  timeout 150 $B curvature --checkpoint tests/fixtures/models/trained_vit.safetensors --data-dir gpubin/fmnist \
    --eval-images 128 --parts top --top-k 3 --max-iterations 300 --tolerance 1e-6 --no-plots \
    --device $d --out "$out/curv_$d" 2>&1 | grep -E "λ|step check"
done
python3 - "$out" <<'PY'
import json, sys
a = json.load(open(sys.argv[1] + "/curv_flex/curvature.json"))["top"]["eigenvalues"]
b = json.load(open(sys.argv[1] + "/curv_wgpu/curvature.json"))["top"]["eigenvalues"]
print("max relative difference of λ1..3, wgpu vs flex:", max(abs(x - y) / abs(x) for x, y in zip(a, b)))
PY
echo "## PyTorch CUDA, 256 images/cell"
timeout 90 python3 tests/reference/bench_torch.py --device cuda --cells 20
echo "## vitscape bench, wgpu, 2048 images/cell, batch 512"
timeout 90 $B bench --devices wgpu --images 2048 --batch-size 512 --cells 10
echo "## PyTorch CUDA, 2048 images/cell, batch 512"
timeout 60 python3 tests/reference/bench_torch.py --device cuda --cells 10 --images 2048 --batch-size 512
echo "## CPU on 1, 2 and $(nproc) threads (issue #11: $(nproc) cores ≥ 6× the 2-core figure)"
timeout 120 $B bench --devices flex --images 256 --cells 64 --cells-per-forward 1 --threads 1 2 "$(nproc)"
for t in 2 "$(nproc)"; do
  timeout 60 python3 tests/reference/bench_torch.py --device cpu --threads "$t" --cells 20
done
