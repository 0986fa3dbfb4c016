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
# Training trajectories (the page's last section): each pre-training run's PCA plane from its epoch
# checkpoints (Li et al. §7), swept around its last checkpoint on its pre-training loss with the
# page's 128 demo images; the grid is the one `vitscape trajectory` suggests.
rm -rf static/demo/trajectory
for run in "sup-vit supervised" "mae-vit mae" "rcmae-vit rcmae"; do
  set -- $run
  series=("$WORK/$2/$2"-e*.safetensors)
  last=${series[-1]}
  pca=()
  if [ "$2" = rcmae ]; then pca=(--branch student); fi
  "$bin" trajectory "${pca[@]}" --out "$WORK/trajectory-$1" "${series[@]}"
  grid=$(sed -n 's/.*--grid \([^ ]*\) \([^ ]*\) .*/\1 \2/p' "$WORK/trajectory-$1/trajectory.json")
  : "${grid:?no suggested grid in $WORK/trajectory-$1/trajectory.json}"
  case $2 in
    supervised) loss=(--loss classification) ;;
    mae) loss=(--loss mae) ;;
    rcmae) loss=(--branch student --loss rcmae --teacher "$last") ;;
  esac
  "$bin" sweep --checkpoint "$last" "${loss[@]}" \
    --directions "$WORK/trajectory-$1/pca_1.safetensors" "$WORK/trajectory-$1/pca_2.safetensors" \
    --grid $grid --data fashion-mnist --eval-images 128 --subset-seed 0 --no-plots \
    --out "static/demo/trajectory/$1"
  cp "$WORK/trajectory-$1/trajectory.json" "static/demo/trajectory/$1/trajectory.json"
  rm -f "static/demo/trajectory/$1"/direction_[xy].safetensors "static/demo/trajectory/$1/masks.safetensors"
done
