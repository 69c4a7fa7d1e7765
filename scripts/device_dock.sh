#!/usr/bin/env bash
# The docking search of staged pockets on a borrowed GPU machine: rustina's GPU mode (wgpu on
# Vulkan), with no RDKit or data there (docs/training.md, "Docked complexes").
# Usage (from the repository root): bash [CODE/]scripts/device_dock.sh STAGE_TAR MINUTES [WORKERS] [THREADS]
# The working tree must hold .gl/*.deb (the Vulkan loader: Debian libvulkan1 libegl1 libglvnd0
# libopengl0 libgl1 libglx0 libgles2) and .whl/rustina-*.whl. The stage files in STAGE_TAR (a tar of
# *.stage.json.gz, written by `dock_complexes.py stage --mode gpu`) are unpacked into
# data/docking/stage/ and searched for at most MINUTES; a chained call on the same machine goes
# on where the last stopped. The result files searched so far are written to $OUT/results.tar.
set -uo pipefail
STAGE_TAR=$1; MINUTES=$2; WORKERS=${3:-2}; THREADS=${4:-4}
CODE=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/rustina-*.whl || exit 1
export PYTHONPATH=/tmp/site:$CODE PYTHONUNBUFFERED=1
ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$ICD" ] && export VK_DRIVER_FILES=$ICD
DIR=data/docking/stage
mkdir -p "$DIR" && tar -xf "$STAGE_TAR" -C "$DIR" --skip-old-files
start=$(date +%s)
timeout "${MINUTES}m" python3 "$CODE/scripts/dock_complexes.py" search --stage "$DIR" --workers "$WORKERS" \
  --threads "$THREADS" > "$OUT/search.log" 2>&1
tr '\r' '\n' < "$OUT/search.log" | grep -v -E "^\s*$|RuntimeWarning|found = dock_batch" \
  | awk 'NR % 20 == 1 || /[Ee]rror|Traceback|searched/' | tail -40
n=$(ls "$DIR" | grep -c 'result.json.gz$')
echo "device_dock: $n of $(ls "$DIR" | grep -c 'stage.json.gz$') pockets searched, $(( $(date +%s) - start )) s this call"
(cd "$DIR" && ls | grep 'result.json.gz$' | tar -cf "$OUT/results.tar" -T -)
