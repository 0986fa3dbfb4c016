#!/usr/bin/env bash
# Submit SHARDS sweep tasks and the merge that waits for them:
#   RUN=/shared/run SHARDS=8 bash deploy/slurm/submit.sh
# SBATCH_EXTRA adds sbatch options to both jobs, e.g. "--partition=gpu" or, on a small test node,
# "--cpus-per-task=1 --mem=1G" (command-line options override the scripts' #SBATCH lines).
# $RUN/spec.json is any vitscape output or spec (`vitscape sweep --spec` reads it); the files it
# names are found under $RUN by sha256.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${SHARDS:=4}"
export RUN="${RUN:-$PWD/run}"
# Slurm opens the jobs' log files before they start: their folder must exist.
mkdir -p logs "$RUN/parts"
# shellcheck disable=SC2086  # SBATCH_EXTRA is a list of options
array=$(sbatch --parsable --export=ALL ${SBATCH_EXTRA:-} --array=0-$((SHARDS - 1)) "$here/sweep-array.sbatch")
# shellcheck disable=SC2086
sbatch --parsable --export=ALL ${SBATCH_EXTRA:-} --dependency=afterany:"${array%%;*}" "$here/merge.sbatch"
