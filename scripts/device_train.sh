#!/usr/bin/env bash
# One training chunk on a borrowed GPU machine, resumable across chunks and machines.
# Usage (from the repository root): [CARRY=.carry] bash [CODE/]scripts/device_train.sh CONFIG MINUTES [overrides...]
# The code is taken from the folder this script lives in (so a frozen copy can be used);
# data caches from $CARRY/*.npz (copied to data/cache/, where the configs look); the run lives
# in runs/device and, on a fresh machine, is restored from $CARRY/ckpt.part* (shards written by
# moldiff.training.portable.pack). An RDKit wheel in $CARRY (rdkit-*.whl) is installed so that
# validation reports validity of sampled molecules.
# Writes the packed checkpoint, fp16 EMA weights and the CSV log to $OUT, and torch.compile's
# on-disk cache as $OUT/inductor_cache.tar.gz: carried back as $CARRY/inductor_cache.tar.gz, it
# spares a fresh machine of the same GPU architecture and torch most of the compilation (on the
# CPU: first step 126 s cold, 50 s warm).
# Several runs can share one GPU (a launch-bound step leaves it idle most of the time): give each
# a RUN_NAME (its run folder runs/<name>, its shards in $CARRY/<name>/, its outputs in $OUT/<name>/)
# and start them in the background; PACK=0 leaves the checkpoint on the machine (files back are
# limited), so only the weights and the log come back.
set -euo pipefail
CONFIG=$1; MINUTES=$2; shift 2
CODE=$(cd "$(dirname "$0")/.." && pwd)
REPO=$PWD
CARRY=$REPO/${CARRY:-.carry}
export PYTHONPATH=$CODE${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
NAME=${RUN_NAME:-}
RUN=$REPO/runs/${NAME:-device}
SHARDS=$CARRY/$NAME
OUT=${OUT:-/tmp/out}/$NAME
mkdir -p "$OUT"
mkdir -p "$REPO/data/cache" "$RUN/checkpoints"
if ls "$CARRY"/rdkit-*.whl >/dev/null 2>&1 && ! python3 -c "import rdkit" 2>/dev/null; then
  python3 -m pip install -q --no-deps "$CARRY"/rdkit-*.whl
fi
for f in "$CARRY"/*.npz; do  # copied then renamed: runs started together never read a partial file
  [ -f "$f" ] || continue  # a chained call on a warm machine carries no caches: they are already there
  dst=$REPO/data/cache/$(basename "$f"); [ -f "$dst" ] || { cp "$f" "$dst.$$" && mv "$dst.$$" "$dst"; }
done
export TORCHINDUCTOR_CACHE_DIR=$REPO/runs/inductor_cache  # shared by the runs on this machine
if [ ! -d "$TORCHINDUCTOR_CACHE_DIR" ] && [ -f "$CARRY/inductor_cache.tar.gz" ]; then  # unpacked aside, then
  mkdir -p "$TORCHINDUCTOR_CACHE_DIR.$$" && tar -xzf "$CARRY/inductor_cache.tar.gz" -C "$TORCHINDUCTOR_CACHE_DIR.$$" \
    && { mv -T "$TORCHINDUCTOR_CACHE_DIR.$$" "$TORCHINDUCTOR_CACHE_DIR" 2>/dev/null || rm -rf "$TORCHINDUCTOR_CACHE_DIR.$$"; }
fi  # renamed: runs started together never read a half-unpacked cache
if [ ! -f "$RUN/checkpoints/last.ckpt" ] && ls "$SHARDS"/ckpt.part* >/dev/null 2>&1; then
  python3 -c "from moldiff.training.portable import unpack; unpack('$SHARDS', '$RUN/checkpoints/last.ckpt')"
fi
python3 "$CODE/scripts/train.py" --config "$CODE/$CONFIG" train.out_dir="$RUN" \
  train.max_time_minutes="$MINUTES" train.max_steps=10000000 "$@" 2>&1 | tr '\r' '\n' \
  | grep -v -E "it/s|s/it|^\s*$" | sed "s/^/${NAME:+[$NAME] }/" || true
python3 - <<PY
import shutil, torch
from pathlib import Path
from moldiff.training.portable import pack
run = Path("$RUN"); out = Path("$OUT")
if "${PACK:-1}" != "0":
    pack(run / "checkpoints" / "last.ckpt", out)
m = torch.load(run / "model.pt", weights_only=False)
m["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in m["state_dict"].items()}
torch.save(m, out / "model_fp16.pt")
logs = sorted((run / "logs").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
if logs:
    shutil.copy(logs[-1], out / "metrics.csv")
print("packed", sorted(p.name for p in out.iterdir()))
PY
if [ -d "$TORCHINDUCTOR_CACHE_DIR" ]; then
  # another run on this machine may still be writing to it: what changes meanwhile is left out
  tar -czf "$OUT/inductor_cache.tar.gz" --warning=no-file-changed --ignore-failed-read -C "$TORCHINDUCTOR_CACHE_DIR" . \
    || echo "inductor cache: tar ended with status $? (the archive may miss files that changed)"
  echo "inductor cache: $(du -h "$OUT/inductor_cache.tar.gz" | cut -f1) compressed"
fi
