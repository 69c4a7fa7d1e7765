#!/usr/bin/env bash
# Build the folders that a call to a borrowed GPU machine carries (development infrastructure for
# this project's machines; docs/training.md), all gitignored through .git/info/exclude:
#   .carry_v2/  the committed code frozen (git archive HEAD; weights left out), the data caches
#               named (default: those of configs/pocket_v2.yaml) and, when a former call brought it
#               back, torch.compile's cache (INDUCTOR=path/to/inductor_cache.tar.gz)
#   .dock/stage.tar  the staged docking pockets of STAGE (a parts folder) that have no result yet
#   .gl/        the Vulkan loader (Debian packages) for rustina's GPU search
#   .whl/       the rustina wheel for the machine's Python 3.12
# Usage (repository root): [STAGE=data/docking/crossdock.npz.parts] [INDUCTOR=...] bash scripts/device_carry.sh [CACHE.npz ...]
set -euo pipefail
CACHES=("$@")
[ ${#CACHES[@]} -gt 0 ] || CACHES=(data/cache/pdb_clean.npz data/cache/fep_clean.npz data/cache/moses50k.npz)
for f in "${CACHES[@]}"; do [ -f "$f" ] || { echo "error: $f not found (docs/data_card.md says how to build it)" >&2; exit 1; }; done
mkdir -p .git/info && touch .git/info/exclude
for d in /.carry_v2/ /.dock/ /.gl/ /.whl/; do grep -qx "$d" .git/info/exclude || echo "$d" >> .git/info/exclude; done
rm -rf .carry_v2 && mkdir -p .carry_v2/code
git archive HEAD moldiff scripts configs pyproject.toml | tar -x -C .carry_v2/code
find .carry_v2/code -name "*.pt" -delete
cp "${CACHES[@]}" .carry_v2/
[ -z "${INDUCTOR:-}" ] || cp "$INDUCTOR" .carry_v2/inductor_cache.tar.gz
rm -rf .dock
if [ -n "${STAGE:-}" ]; then
  mkdir -p .dock
  (cd "$STAGE" && for f in *.stage.json.gz; do [ -f "$f" ] && [ ! -f "${f%.stage.json.gz}.result.json.gz" ] && echo "$f"; done || true) \
    > .dock/stage.list
  [ -s .dock/stage.list ] || { echo "error: $STAGE holds no staged pocket without a result" >&2; exit 1; }
  tar -cf .dock/stage.tar -C "$STAGE" -T .dock/stage.list && rm .dock/stage.list
  echo "staged pockets to search: $(tar -tf .dock/stage.tar | wc -l)"
fi
if ! ls .gl/*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update >/dev/null && (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null 2>&1)
fi
# the version this checkout docks with: results searched with another are refused here
version=$( (.venv/bin/python -m pip show rustina 2>/dev/null || true) | awk '/^Version/{print $2}')
[ -n "$version" ] || { echo "error: rustina is not installed in .venv (make setup)" >&2; exit 1; }
find .whl -name 'rustina-*.whl' ! -name "rustina-$version-*" -delete 2>/dev/null || true
ls .whl/rustina-"$version"-*.whl >/dev/null 2>&1 || python3 -m pip download -q --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 -d .whl "rustina==$version"
du -sh .carry_v2 .dock .gl .whl 2>/dev/null || true
echo "tracked files: $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) bytes; the call's whole tree must stay under 64 MiB"
