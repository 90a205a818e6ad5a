#!/usr/bin/env bash
# Train IDC's synthetic recipe on one GPU for a given wall time, from data carried in carry/ (fill it with
# `python scripts/prepare_gpu_carry.py`), optionally resuming from given weights. Writes the run folder, the final
# weights (model.safetensors + config.json), their average as ema/ (when the config sets `ema`), metrics.csv and
# train.log into OUT_DIR.
#
# Usage: scripts/gpu_train.sh OUT_DIR MINUTES [STEPS|auto|clock] [INIT_WEIGHTS|none] [extra `idc train` arguments...]
#   STEPS auto: measure the model's step rate for a few seconds and size the schedule to fill MINUTES.
#   STEPS clock: no measurement; as many steps as MINUTES allow, the learning rate annealed on the clock
#     (anneal_by_time), which saves the probe's start-up, model build and cuDNN autotuning (about 30 s on a GPU).
# Environment: IDC_CARRY (default: carry), IDC_CONFIG (default: configs/idc_synthetic.yaml), IDC_BATCH (default:
#   the config's), PYTHON (default: python3).
set -euo pipefail
out=${1:?OUT_DIR}; minutes=${2:?MINUTES}; steps=${3:-auto}; init=${4:-none}
shift $(( $# < 4 ? $# : 4 ))
carry=${IDC_CARRY:-carry}
config=${IDC_CONFIG:-configs/idc_synthetic.yaml}
py=${PYTHON:-python3}
mkdir -p "$out"

# Wheels the machine's Python lacks travel in carry/wheels; the package itself runs from src/.
if compgen -G "$carry/wheels/*.whl" >/dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/idc-site "$carry"/wheels/*.whl
  export PYTHONPATH="/tmp/idc-site:src:${PYTHONPATH:-}"
else
  export PYTHONPATH="src:${PYTHONPATH:-}"
fi
"$py" -c "import torch, idc; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee "$out/env.txt"

batch_args=()
if [ -n "${IDC_BATCH:-}" ]; then batch_args=(--set "batch=$IDC_BATCH"); fi
if [ "$steps" = auto ]; then
  # Steps that fill the wall time: model step rate x minutes x 0.85 (data loading, validation and saving cost the rest).
  read -r preset batch crop < <("$py" -c "
import sys
from idc.train.config import load_train_config
args = sys.argv[4:]
sets = [args[i + 1] for i, a in enumerate(args[:-1]) if a == '--set']
c = load_train_config(sys.argv[1], sets + ([f'batch={sys.argv[2]}'] if sys.argv[2] else []) + [f'max_minutes={sys.argv[3]}'])
print(c.model.get('preset', 'idc'), c.batch, c.data.crop)" "$config" "${IDC_BATCH:-}" "$minutes" "$@")
  "$py" benchmarks/train_speed.py --preset "$preset" --batch "$batch" --crop "$crop" --precision bf16 \
    --channels-last on --steps 5 --warmup 3 --json "$out/speed.json" | tee -a "$out/env.txt"
  steps=$("$py" -c "import json,sys; r=json.load(open(sys.argv[1]))['rows'][0]; print(max(1, int(r['it_per_s'] * 60 * float(sys.argv[2]) * 0.85)))" "$out/speed.json" "$minutes")
fi
clock_args=()
if [ "$steps" = clock ]; then
  steps=1000000  # an upper bound only: the wall-time limit ends the run and the schedule follows the clock
  clock_args=(--set anneal_by_time=true)
fi
echo "$(date -u +%T) training $steps steps, at most $minutes minutes, config $config, data $carry/data, init $init" | tee -a "$out/env.txt"

init_args=()
if [ "$init" != none ]; then init_args=(--set "init_weights=$init"); fi
rc=0
"$py" -m idc -v train --config "$config" --run-dir "$out/run" --no-progress \
  --set "data.root=$carry/data" --set "steps=$steps" --set "max_minutes=$minutes" \
  "${batch_args[@]}" "${init_args[@]}" "${clock_args[@]}" "$@" 2>&1 | tee "$out/train.log" || rc=${PIPESTATUS[0]}
echo "$(date -u +%T) training ended with status $rc" | tee -a "$out/env.txt"
# 3 = stopped by the wall-time limit after saving: the normal end of a timed run.
if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then echo "training failed with status $rc" >&2; exit "$rc"; fi

latest=$(cat "$out/run/checkpoints/LATEST")
cp "$out/run/checkpoints/$latest/model.safetensors" "$out/run/checkpoints/$latest/config.json" "$out/"
rm -rf "$out/ema"
if [ -d "$out/run/checkpoints/$latest/ema" ]; then cp -r "$out/run/checkpoints/$latest/ema" "$out/ema"; fi
cp "$out/run/metrics.csv" "$out/"
echo "weights: $out/model.safetensors ($latest); metrics: $out/metrics.csv"
