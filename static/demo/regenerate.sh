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
# Mode connectivity between the fine-tuned models (the page's last section); the straight line's
# direction file is left out (it is the difference of the two checkpoints).
rm -rf static/demo/connect
for pair in "sup-mae sup-vit mae-vit-finetune" "mae-rcmae mae-vit-finetune rcmae-vit-finetune"; do
  set -- $pair
  "$bin" connect --checkpoint "static/demo/$2.safetensors" --interpolate "static/demo/$3.safetensors" \
    --grid 0:1:21 --no-plots --out "static/demo/connect/$1"
  rm -f "static/demo/connect/$1/linear/direction_x.safetensors"
done
