#!/usr/bin/env bash
# The speed benchmark on the lent GPU machine (no network there).
#
# Here, once:   pip download --no-deps -d wheels open_clip_torch imagehash piexif typer rich ftfy shellingham wcwidth
#               pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#                   --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d wheels pywavelets
#               (wheels/ is git-ignored: carry it)
# Then:         device run: command "bash benchmarks/gpu_run.sh", carry ["wheels"]
#
# Env: N (default 200), REPEATS (3), GROUPING=1 also runs the grouping benchmark on CUDA,
#      OUT (the device tool sets it; default benchmarks/results).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
PY=${PYTHON:-python3}
N=${N:-200}
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

"$PY" -m benchmarks speed --device cuda --n "$N" --repeats "$REPEATS" --no-peers \
    --out "$OUT/speed-gpu.json" 2>&1 | tee "$OUT/speed-gpu.log"
if [ "${GROUPING:-0}" = "1" ]; then
  "$PY" -m benchmarks grouping --device cuda --out "$OUT/grouping-gpu.json" 2>&1 | tee "$OUT/grouping-gpu.log"
fi
