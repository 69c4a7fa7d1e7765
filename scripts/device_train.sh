#!/usr/bin/env bash
# One training chunk on a borrowed GPU machine, resumable across chunks and machines.
# Usage (from the repository root): [CARRY=.carry] bash [CODE/]scripts/device_train.sh CONFIG MINUTES [overrides...]
# The code is taken from the folder this script lives in (so a frozen copy can be used);
# data caches from $CARRY/*.npz (copied to data/cache/, where the configs look); the run lives
# in runs/device and, on a fresh machine, is restored from $CARRY/ckpt.part* (shards written by
# moldiff.training.portable.pack). An RDKit wheel in $CARRY (rdkit-*.whl) is installed so that
# validation reports validity of sampled molecules.
# Writes the packed checkpoint, fp16 EMA weights and the CSV log to $OUT.
set -euo pipefail
CONFIG=$1; MINUTES=$2; shift 2
CODE=$(cd "$(dirname "$0")/.." && pwd)
REPO=$PWD
CARRY=$REPO/${CARRY:-.carry}
export PYTHONPATH=$CODE${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
RUN=$REPO/runs/device
mkdir -p "$REPO/data/cache" "$RUN/checkpoints"
if ls "$CARRY"/rdkit-*.whl >/dev/null 2>&1 && ! python3 -c "import rdkit" 2>/dev/null; then
  python3 -m pip install -q --no-deps "$CARRY"/rdkit-*.whl
fi
for f in "$CARRY"/*.npz; do [ -f "$REPO/data/cache/$(basename "$f")" ] || cp "$f" "$REPO/data/cache/"; done
if [ ! -f "$RUN/checkpoints/last.ckpt" ] && ls "$CARRY"/ckpt.part* >/dev/null 2>&1; then
  python3 -c "from moldiff.training.portable import unpack; unpack('$CARRY', '$RUN/checkpoints/last.ckpt')"
fi
python3 "$CODE/scripts/train.py" --config "$CODE/$CONFIG" train.out_dir="$RUN" \
  train.max_time_minutes="$MINUTES" train.max_steps=10000000 "$@" 2>&1 | tr '\r' '\n' | grep -v -E "it/s|s/it|^\s*$" || true
OUT=${OUT:-/tmp/out}
python3 - <<PY
import shutil, torch
from pathlib import Path
from moldiff.training.portable import pack
run = Path("$RUN"); out = Path("$OUT")
pack(run / "checkpoints" / "last.ckpt", out)
m = torch.load(run / "model.pt", weights_only=False)
m["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in m["state_dict"].items()}
torch.save(m, out / "model_fp16.pt")
logs = sorted((run / "logs").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
if logs:
    shutil.copy(logs[-1], out / "metrics.csv")
print("packed", sorted(p.name for p in out.iterdir()))
PY
