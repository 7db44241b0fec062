#!/usr/bin/env bash
# The GPU path and the speed benchmark on a lent GPU machine, in < 8 minutes, from nothing but
# this checkout.
#
#   bash benchmarks/gpu_run.sh              # on the GPU machine (device tool: command "bash benchmarks/gpu_run.sh")
#   DRY_RUN=1 bash benchmarks/gpu_run.sh    # anywhere: every step on the CPU with tiny models and images
#
# Python packages the machine lacks are installed first from what is there: a wheel folder if
# one was carried (WHEELS, default .whl; never required), else the package registry (pip, 60 s
# limit). A package that cannot be had is named with what to do, and the steps that need it are
# skipped; nothing stops at once for a folder that does not exist.
#
# Steps (each under its own time limit; results are written after every row, so a step
# stopped at its limit keeps what it measured):
#   1. benchmarks.gpu-path: nvJPEG batch decode (EXIF orientation applied after it) -> ViT-B/16
#      embeddings, alone and with a CPU draft-decode pool; FGAesQ series scores from the
#      full-resolution frames (tokens on the CPU, passes in float32 and bf16)  -> gpu-path.json
#   2. benchmarks.speed --device cuda: the decode bounds and photocull's cold/warm culls on the
#      same files                                                              -> speed-gpu.json
# Env: N (24 MP JPEGs, default 60), REPEATS (2), PATH_LIMIT (s, 260), SPEED_LIMIT (s, 160),
#      SERIES (FGAesQ series, 3), OUT (the device tool sets it; default benchmarks/results).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
# $PYTHON, else this checkout's venv (a dry run here), else the machine's python3 (a bare GPU machine:
# the checkout travels without .venv)
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
DRY=${DRY_RUN:-0}
N=${N:-60}
REPEATS=${REPEATS:-2}
SERIES=${SERIES:-3}
WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/photocull-site}
mkdir -p "$SITE" "$OUT"
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
started=$(date +%s)

# module:distribution for what photocull's GPU path imports beyond torch/torchvision.
NEEDED="open_clip:open_clip_torch imagehash:imagehash piexif:piexif pywt:pywavelets ftfy:ftfy wcwidth:wcwidth typer:typer rich:rich shellingham:shellingham safetensors:safetensors huggingface_hub:huggingface_hub PIL:pillow numpy:numpy"
importable() {  # open_clip and torchvision through photocull's compatibility importers (CPU torch here)
  case "$1" in
    open_clip) "$PY" -c "from photocull.compat import import_open_clip; import_open_clip()" 2>/dev/null ;;
    *) "$PY" -c "import $1" 2>/dev/null ;;
  esac
}
missing() {
  local out=()
  for pair in $NEEDED; do
    importable "${pair%%:*}" || out+=("${pair#*:}")
  done
  echo "${out[@]:-}"
}
need=$(missing)
if [ -n "$need" ] && [ -d "$WHEELS" ]; then
  echo "installing from $WHEELS: $need"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl || true
  need=$(missing)
fi
if [ -n "$need" ]; then
  echo "installing from the registry: $need"
  # --no-deps: the machine's torch/torchvision stay as they are (a dependency could pull another torch)
  timeout 60 "$PY" -m pip install -q --no-deps --no-compile --disable-pip-version-check --target "$SITE" $need \
    || echo "the registry could not be used (no network?)" >&2
  need=$(missing)
fi
# numba compiles FGAesQ's exact block ranking; without it the numpy path gives the same bits, slower,
# so it is installed when it can be and never skips a step.
if ! importable numba; then
  timeout 60 "$PY" -m pip install -q --no-deps --no-compile --disable-pip-version-check --target "$SITE" numba llvmlite \
    && importable numba || echo "numba not installed: FGAesQ ranks blocks on its numpy path (same bits, ~5x slower)" >&2
fi
if [ -n "$need" ]; then
  echo "MISSING: $need. Carry wheels in $WHEELS (pip download --no-deps --python-version 3.12 ... -d $WHEELS $need) or give the machine a registry." >&2
fi
"$PY" -c "import torch; from photocull.compat import import_torchvision; import_torchvision(); print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" || exit 1
nproc; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"

if [ "$DRY" = 1 ]; then
  DEV=cpu; PATH_ARGS="--tiny"; SPEED_ARGS="--device cpu --n 6 --width 800 --height 600 --repeats 1"; SUFFIX="-dry-run"
else
  DEV=cuda; PATH_ARGS="--device cuda --n $N --series-limit $SERIES"; SPEED_ARGS="--device cuda --n $N --repeats $REPEATS"; SUFFIX=""
fi
status=0
case " $need " in
  *" open_clip_torch "*|*" pillow "*|*" numpy "*) echo "skipping gpu-path: it needs open_clip, pillow, numpy" >&2; status=1 ;;
  *)
    timeout "${PATH_LIMIT:-260}" "$PY" -m benchmarks gpu-path $PATH_ARGS --out "$OUT/gpu-path$SUFFIX.json" 2>&1 \
      | tee "$OUT/gpu-path$SUFFIX.log"
    rc=${PIPESTATUS[0]}; [ "$rc" = 0 ] || { echo "gpu-path ended with $rc (rows so far are in $OUT/gpu-path$SUFFIX.json)" >&2; status=1; } ;;
esac
if [ -n "$need" ]; then
  echo "skipping speed: photocull's cull needs $need" >&2; status=1
else
  timeout "${SPEED_LIMIT:-160}" "$PY" -m benchmarks speed $SPEED_ARGS --no-peers --no-cli --fgaesq-repeats 0 \
      --out "$OUT/speed-gpu$SUFFIX.json" 2>&1 | tee "$OUT/speed-gpu$SUFFIX.log"
  rc=${PIPESTATUS[0]}; [ "$rc" = 0 ] || { echo "speed ended with $rc (rows so far are in $OUT/speed-gpu$SUFFIX.json)" >&2; status=1; }
fi
echo "gpu_run.sh: $(( $(date +%s) - started )) s on $DEV, results in $OUT"
exit $status
