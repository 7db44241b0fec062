#!/usr/bin/env bash
# The GPU path and the speed benchmark on a lent GPU machine (no network there), in < 8 minutes.
#
# Needs: Python 3.12 with torch + torchvision (CUDA). What the machine's image lacks travels as
# wheels in the git-ignored wheels/ folder, downloaded here once with:
#   python3 -m pip download --no-deps -d wheels open_clip_torch imagehash piexif typer rich ftfy \
#       shellingham wcwidth
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d wheels pywavelets
# Then:  device run: command "bash benchmarks/gpu_run.sh", carry ["wheels"]
# (or by hand on any CUDA machine: bash benchmarks/gpu_run.sh)
#
# What it runs (each step under its own time limit, so the whole fits in 8 minutes):
#   1. benchmarks.gpu_path: nvJPEG batch decode -> ViT-B/16 embeddings (alone and with a CPU
#      draft-decode pool alongside), FGAesQ series scoring with the official-compatible tokens
#      (exhaustive and O(n)), bf16 vs float32 agreement, peak GPU memory   -> gpu-path.json
#   2. benchmarks.speed --device cuda: the decode bounds (CPU draft, nvJPEG) and photocull's
#      cold/warm culls on the same files                                   -> speed-gpu.json
# Env: N (24 MP JPEGs, default 100), REPEATS (3), PATH_LIMIT (s, 240), SPEED_LIMIT (s, 200),
#      OUT (the device tool sets it; default benchmarks/results).
# Dry run of the Python parts on a CPU (tiny models and images):  python -m benchmarks gpu-path --tiny
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
PY=${PYTHON:-python3}
N=${N:-100}
REPEATS=${REPEATS:-3}
SITE=/tmp/photocull-site
mkdir -p "$SITE" "$OUT"

# Install only what the image lacks (it has torch, torchvision, timm, safetensors, regex,
# huggingface-hub, typer, rich, shellingham; a newer typer wheel would need pydantic).
wheels=()
for pair in open_clip:open_clip_torch imagehash:imagehash piexif:piexif pywt:pywavelets ftfy:ftfy wcwidth:wcwidth typer:typer rich:rich shellingham:shellingham; do
  mod=${pair%%:*}; dist=${pair#*:}
  if ! "$PY" -c "import $mod" 2>/dev/null; then
    w=$(ls wheels 2>/dev/null | grep -i "^${dist}-" | head -1)
    if [ -n "$w" ]; then wheels+=("wheels/$w"); else echo "missing module $mod and no wheel for it in wheels/" >&2; fi
  fi
done
if [ ${#wheels[@]} -gt 0 ]; then
  echo "installing: ${wheels[*]}"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "${wheels[@]}" || exit 1
fi
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
"$PY" -c "import torch, torchvision, open_clip, imagehash, piexif, photocull; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" || exit 1
nproc; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

# The shoot is generated once (by the first step) and shared by both.
timeout "${PATH_LIMIT:-240}" "$PY" -m benchmarks gpu-path --device cuda --n "$N" \
    --out "$OUT/gpu-path.json" 2>&1 | tee "$OUT/gpu-path.log"
timeout "${SPEED_LIMIT:-200}" "$PY" -m benchmarks speed --device cuda --n "$N" --repeats "$REPEATS" --no-peers \
    --no-cli --fgaesq-repeats 0 --out "$OUT/speed-gpu.json" 2>&1 | tee "$OUT/speed-gpu.log"
