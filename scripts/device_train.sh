#!/usr/bin/env bash
# One training chunk on a borrowed GPU machine (see BENCHMARKS.md / issue notes).
# Usage: bash scripts/device_train.sh CONFIG MINUTES [overrides...]
# Expects .carry/qm9.npz; resumes from .carry/ckpt.part* (packed by moldiff.training.portable)
# or from a run folder left on a warm machine. Writes packed checkpoint, EMA weights and logs to $OUT.
set -euo pipefail
CONFIG=$1; MINUTES=$2; shift 2
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
RUN=runs/device
mkdir -p data/cache $RUN/checkpoints
[ -f data/cache/qm9.npz ] || cp .carry/qm9.npz data/cache/qm9.npz
if [ ! -f $RUN/checkpoints/last.ckpt ] && ls .carry/ckpt.part* >/dev/null 2>&1; then
  python3 -c "from moldiff.training.portable import unpack; unpack('.carry', '$RUN/checkpoints/last.ckpt')"
fi
python3 scripts/train.py --config "$CONFIG" train.out_dir=$RUN train.max_time_minutes=$MINUTES \
  train.max_steps=10000000 "$@" 2>&1 | tr '\r' '\n' | grep -v -E "it/s|s/it" || true
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
logs = sorted((run / "logs").glob("version_*/metrics.csv"))
for i, p in enumerate(logs):
    shutil.copy(p, out / f"metrics_{i}.csv")
print("packed", sorted(p.name for p in out.iterdir()))
PY
