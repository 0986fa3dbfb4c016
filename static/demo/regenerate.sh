#!/usr/bin/env bash
# Regenerates every file of the embedded demo (static/demo/) from the Debian package
# dataset-fashion-mnist: Sup-ViT, MAE-ViT and RC-MAE-ViT trained by vitscape, their fine-tuned and
# linear-probed versions, the eval subset and manifest.json.
#
#   bash static/demo/regenerate.sh            # EPOCHS=12 FT_EPOCHS=3 by default
#
# Per-epoch checkpoint series and metrics.csv files stay in $WORK (default target/demo-train).
set -euo pipefail
cd "$(dirname "$0")/../.."
EPOCHS=${EPOCHS:-12}
FT_EPOCHS=${FT_EPOCHS:-3}
WORK=${WORK:-target/demo-train}
SEED=${SEED:-0}
cargo build
mkdir -p "$WORK"
cp target/debug/vitscape "$WORK/vitscape"   # a stable copy: rebuilding must not swap it mid-run
bin="$WORK/vitscape"
start=$(date +%s)
"$bin" train --method supervised --epochs "$EPOCHS" --seed "$SEED" --out "$WORK/supervised"
"$bin" train --method mae --epochs "$EPOCHS" --seed "$SEED" --out "$WORK/mae"
"$bin" train --method rcmae --epochs "$EPOCHS" --seed "$SEED" --out "$WORK/rcmae"
for pre in mae rcmae; do
  "$bin" train --method finetune --from "$WORK/$pre/$pre.safetensors" --epochs "$FT_EPOCHS" --seed "$SEED" --out "$WORK/$pre-finetune"
  "$bin" train --method linprobe --from "$WORK/$pre/$pre.safetensors" --seed "$SEED" --out "$WORK/$pre-linprobe"
done
echo "training took $(( $(date +%s) - start )) s"
"$bin" demo-pack --work "$WORK" --out static/demo
"$bin" verdict --demo static/demo
