#!/usr/bin/env bash
# Regenerates every file of the embedded demo (static/demo/) from the Debian package
# dataset-fashion-mnist: Sup-ViT, MAE-ViT and RC-MAE-ViT trained by vitscape with each of $SEEDS
# (the first seed's models are the page's; the others are the verdict's replicates in
# static/demo/seed-N/), the first seed's fine-tuned models, every seed's linear probes, the eval
# subset, manifest.json and the verdict over training seeds × direction seeds.
#
#   bash static/demo/regenerate.sh      # SUP_EPOCHS=40 EPOCHS=12 FT_EPOCHS=3 SEEDS="0 1 2"
#   TRAIN_ONLY=1 WORK=train-state bash static/demo/regenerate.sh   # only the training runs
#
# Each training run is one process on one core (burn flex does not spread a step over cores), so
# PARALLEL runs go side by side (default: the number of cores). Per-epoch checkpoint series and
# metrics.csv files stay in $WORK/seed-N (default target/demo-train); a finished run (its final
# checkpoint present) is not trained again, and a stopped one (its resume.safetensors present,
# written after every epoch) continues where it stopped with `vitscape train --resume`.
set -euo pipefail
cd "$(dirname "$0")/../.."
SUP_EPOCHS=${SUP_EPOCHS:-40}   # Sup-ViT: long enough for >= 88 % test accuracy (issue #15)
EPOCHS=${EPOCHS:-12}           # MAE and RC-MAE pre-training
FT_EPOCHS=${FT_EPOCHS:-3}
SEEDS=${SEEDS:-"0 1 2"}
PARALLEL=${PARALLEL:-$(nproc)}
WORK=${WORK:-target/demo-train}
cargo build
mkdir -p "$WORK"
cp target/debug/vitscape "$WORK/vitscape"   # a stable copy: rebuilding must not swap it mid-run
bin="$WORK/vitscape"
first=${SEEDS%% *}
# One training run, skipped when its final checkpoint exists, continued when it was stopped.
run() {  # run OUT_DIR NAME ARGS...
  local out=$1 name=$2; shift 2
  if [ -f "$out/$name.safetensors" ]; then echo "kept $out/$name.safetensors"; return; fi
  if [ -f "$out/resume.safetensors" ]; then
    "$bin" train "$@" --out "$out" --resume >> "$out.log" 2>&1
    return
  fi
  rm -rf "$out"
  "$bin" train "$@" --out "$out" > "$out.log" 2>&1
}
# A pool of PARALLEL runs: `launch` starts one when a slot is free; any failure stops the script.
pids=()
reap() {  # wait for one run of the pool to end
  local done p left=()
  wait -n -p done "${pids[@]}"
  for p in "${pids[@]}"; do [ "$p" = "$done" ] || left+=("$p"); done
  pids=("${left[@]}")
}
launch() { while [ ${#pids[@]} -ge "$PARALLEL" ]; do reap; done; "$@" & pids+=($!); }
settle() { while [ ${#pids[@]} -gt 0 ]; do reap; done; }
start=$(date +%s)
# Pre-training, every seed: nine independent runs, the longest first.
for kind in supervised rcmae mae; do
  for seed in $SEEDS; do
    e=$EPOCHS; [ "$kind" = supervised ] && e=$SUP_EPOCHS
    mkdir -p "$WORK/seed-$seed"
    launch run "$WORK/seed-$seed/$kind" "$kind" --method "$kind" --epochs "$e" --seed "$seed"
  done
done
settle
# From the pre-trained encoders: the first seed's fine-tuned models, every seed's linear probes.
for pre in mae rcmae; do
  w="$WORK/seed-$first"
  launch run "$w/$pre-finetune" finetune --method finetune --from "$w/$pre/$pre.safetensors" --epochs "$FT_EPOCHS" --seed "$first"
done
for seed in $SEEDS; do
  for pre in mae rcmae; do
    w="$WORK/seed-$seed"
    launch run "$w/$pre-linprobe" linprobe --method linprobe --from "$w/$pre/$pre.safetensors" --seed "$seed"
  done
done
settle
echo "training took $(( $(date +%s) - start )) s"
if [ -n "${TRAIN_ONLY:-}" ]; then exit 0; fi
replicates=()
for seed in $SEEDS; do [ "$seed" = "$first" ] || replicates+=("$WORK/seed-$seed"); done
rm -rf static/demo/seed-*
"$bin" demo-pack --work "$WORK/seed-$first" ${replicates[@]:+--replicate "${replicates[@]}"} --out static/demo
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
  last="$WORK/seed-$first/$2/$2.safetensors"
  # The plane is kept once made: a WORK folder carried between machines keeps it,
  # not the epoch checkpoints it was made from.
  if [ ! -f "$WORK/trajectory-$1/trajectory.json" ]; then
    series=("$WORK/seed-$first/$2/$2"-e*.safetensors)
    pca=()
    if [ "$2" = rcmae ]; then pca=(--branch student); fi
    "$bin" trajectory "${pca[@]}" --out "$WORK/trajectory-$1" "${series[@]}"
  fi
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
