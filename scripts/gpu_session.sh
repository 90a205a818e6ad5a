#!/usr/bin/env bash
# Everything one device call does, most important first, each stage bounded by one shared deadline:
#   1. with IDC_BENCH_FAST=1, `idc bench` on CUDA at 1280x720 in fp16, eager and CUDA graphs, under autocast and on a
#      network cast to fp16 (issue #5, measured and closed: off by default so training gets the time;
#      IDC_BENCH_ALL=1 adds the fp32/bf16/fp16 eager table, IDC_BENCH_COMPILE=1 torch.compile);
#   2. scripts/gpu_train.sh: the synthetic config for TRAIN_MINUTES, starting from the bundled default, its
#      learning rate annealed on the clock to reach min_lr at the limit (issue #6);
#   3. benchmarks/ablation.py --train-only: IDC, single-scale and no-Sub-Texture at one equal step budget, sized
#      from the measured step rate to about ABLATION_SECONDS per variant (issue #4; 0 skips it);
#   4. pack (scripts/pack_session.py): weights as fp16 safetensors (the training run's last, each ablation variant's,
#      the training run's average of the weights when its config keeps one (`ema`), then its snapshots every
#      IDC_SNAPSHOT_EVERY steps while they fit), logs, CSV and JSON into
#      OUT/results.tar.NN, chunks of at most 15 MiB (IDC_CHUNK, a size for split -b; the device returns at most 8
#      files of 16 MiB, 64 MiB in all; the pack stays under 56 MiB).
#      Unpack with: cat OUT/results.tar.* | tar -x -C DEST
# Data comes from carry/ (python scripts/prepare_gpu_carry.py). Extra arguments (e.g. --set device=cpu) go to
# both the training run and the ablation.
#
# Usage: scripts/gpu_session.sh OUT BUDGET_SECONDS [TRAIN_MINUTES] [ABLATION_SECONDS] [--set key=value ...]
# Environment: PYTHON (default python3), IDC_CARRY (default carry), IDC_CONFIG (default configs/idc_synthetic.yaml),
#   IDC_BENCH_DEVICE (default cuda), IDC_BENCH_SIZE (default 1280x720), IDC_BENCH_FAST (default 0; 1 runs the fp16
#   eager/graphs/cast benches, about 90 s), IDC_BENCH_ALL, IDC_BENCH_COMPILE (default 0), IDC_BENCH_RUNS and
#   IDC_BENCH_WARMUP (timed and warm-up calls per bench row; default 20 and 5), IDC_ABLATION_BATCH and
#   IDC_ABLATION_CROP (default: 16 and 256, the paper's), IDC_ABLATION_WORKERS (default 8), IDC_INIT (weights the
#   training run starts from; default src/idc/pretrained/idc-default, `none` for scratch), IDC_SNAPSHOT_EVERY (keep
#   the training run's checkpoint every this many steps and pack its weights as train/snapshots/step-N/; default
#   1500, a multiple of the config's ckpt_every; 0: none), IDC_PACK_MIB (snapshots are packed while the pack stays
#   under this; default 56), IDC_CHUNK (the most bytes in one results.tar.NN; default 15M), TMPDIR (where the
#   session's work folder goes; default /tmp).
set -uo pipefail
out=${1:?OUT}; budget=${2:?BUDGET_SECONDS}; train_min=${3:-5}; abl_s=${4:-45}
shift $(( $# < 4 ? $# : 4 ))
py=${PYTHON:-python3}
carry=${IDC_CARRY:-carry}
config=${IDC_CONFIG:-configs/idc_synthetic.yaml}
snap=${IDC_SNAPSHOT_EVERY:-1500}
deadline=$(( $(date +%s) + budget ))
left() { echo $(( deadline - $(date +%s) )); }
work=$(mktemp -d "${TMPDIR:-/tmp}/idc-session.XXXX")
stage=$work/pack
mkdir -p "$out" "$stage/train" "$stage/ablation"
export PYTHONUNBUFFERED=1

if compgen -G "$carry/wheels/*.whl" >/dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/idc-site \
    "$carry"/wheels/*.whl
  export PYTHONPATH="/tmp/idc-site:src:${PYTHONPATH:-}"
else
  export PYTHONPATH="src:${PYTHONPATH:-}"
fi
{ date -u; nvidia-smi 2>&1 | head -15; "$py" -c "import torch; print('torch', torch.__version__)"; } \
  >"$stage/machine.txt" 2>&1

echo "== $(date -u +%T) bench ($(left) s left)"
bench=("$py" -m idc bench --device "${IDC_BENCH_DEVICE:-cuda}" --size "${IDC_BENCH_SIZE:-1280x720}" --runs "${IDC_BENCH_RUNS:-20}" --warmup "${IDC_BENCH_WARMUP:-5}")
if [ "${IDC_BENCH_ALL:-0}" != 0 ]; then
  timeout 120 "${bench[@]}" --precision fp32 bf16 fp16 --json "$stage/bench-gpu.json" 2>&1 | tee "$stage/bench.log"
fi
# The <20 ms goal, fp16 (the CUDA default of `idc deblur`): eager (the baseline, again on this card) and CUDA graphs,
# under autocast and then on a network cast to fp16; torch.compile only with IDC_BENCH_COMPILE=1 (its compile time
# would come out of training). One call each, so a backend that fails on this card loses only its own rows.
if [ "${IDC_BENCH_FAST:-0}" != 0 ]; then
  for cast in "" "--cast"; do
    # shellcheck disable=SC2086  # cast is empty or one flag
    timeout 100 "${bench[@]}" --precision fp16 --backend eager graphs $cast \
      --json "$stage/bench-gpu-fp16${cast:+-cast}.json" 2>&1 | tee -a "$stage/bench.log"
  done
  if [ "${IDC_BENCH_COMPILE:-0}" != 0 ]; then
    timeout 150 "${bench[@]}" --precision fp16 --backend compile --json "$stage/bench-gpu-fp16-compile.json" 2>&1 \
      | tee -a "$stage/bench.log"
  fi
fi

abl_total=$(( abl_s > 0 ? 3 * abl_s + 60 : 0 ))
train_limit=$(( $(left) - abl_total - 30 ))
# The run's own wall-time limit (which its learning rate anneals to) must end before this stage's timeout: start-up
# (imports, weights, data), the last checkpoint and, with `auto`, the step-rate probe need about 45 s, or 90 with it.
# The ablation sizes its steps from the probe, so only a session without one trains on the clock alone.
mode=auto; reserve=90
if [ "$abl_s" -le 0 ]; then mode=clock; reserve=45; fi
fit() { "$py" -c "import sys; print(round(min(float(sys.argv[1]), max(0.5, (int(sys.argv[2]) - int(sys.argv[3])) / 60)), 2))" "$@"; }
want_min=$train_min
train_min=$(fit "$want_min" "$train_limit" "$reserve")
echo "== $(date -u +%T) train ($(left) s left; limit $train_limit s; $train_min minutes of training, steps $mode)"
timeout --signal=TERM --kill-after=30 "$train_limit" env PYTHON="$py" IDC_CARRY="$carry" IDC_CONFIG="$config" \
  bash scripts/gpu_train.sh "$work/train" "$train_min" "$mode" "${IDC_INIT:-src/idc/pretrained/idc-default}" \
  --set val.every=0 --set anneal_by_time=true --set "keep_every=$snap" "$@" \
  >"$stage/train/session.log" 2>&1
rc=$?; echo "train exit $rc"; tail -5 "$stage/train/session.log"
if [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$(left)" -gt $(( abl_total + 150 )) ] \
  && ! grep -q "^idc: stopped at step" "$stage/train/session.log"; then
  # A failure before any training (bf16 trouble on this card, say): one retry in fp32 with what time is left.
  echo "== $(date -u +%T) train again in fp32 ($(left) s left)"; mv "$stage/train/session.log" "$stage/train/session-failed.log"
  rm -rf "$work/train"
  train_limit=$(( $(left) - abl_total - 30 )); train_min=$(fit "$want_min" "$train_limit" "$reserve")
  timeout --signal=TERM --kill-after=30 "$train_limit" env PYTHON="$py" IDC_CARRY="$carry" \
    IDC_CONFIG="$config" bash scripts/gpu_train.sh "$work/train" "$train_min" "$mode" \
    "${IDC_INIT:-src/idc/pretrained/idc-default}" --set val.every=0 --set anneal_by_time=true --set "keep_every=$snap" \
    --set precision=fp32 "$@" \
    >"$stage/train/session.log" 2>&1
  echo "train exit $?"; tail -5 "$stage/train/session.log"
fi

# Collapse check (docs/paper-notes.md section 10): the Fusion ReLU's active fraction of the weights trained above.
"$py" -m idc info --weights "$work/train/run/checkpoints/$(cat "$work/train/run/checkpoints/LATEST" 2>/dev/null)" \
  --size 64x64 2>&1 | tail -1 | tee "$stage/train/health.txt"

# The probe timed the training crop; smaller ablation crops run about (crop ratio)^2 faster, a little less in practice.
steps=$("$py" -c "
import json, sys
try:
    j = json.load(open(sys.argv[1]))
    print(max(1, int(j['rows'][0]['it_per_s'] * float(sys.argv[2]) * 0.8 * (j['crop'] / float(sys.argv[3])) ** 2)))
except Exception:
    print(100)" "$work/train/speed.json" "$abl_s" "${IDC_ABLATION_CROP:-256}")
abl_limit=$(( $(left) - 25 ))
if [ "$abl_s" -le 0 ]; then
  echo "== ablation skipped (ABLATION_SECONDS 0)"
else
echo "== $(date -u +%T) ablation: $steps steps per variant ($(left) s left; limit $abl_limit s)"
timeout --signal=TERM --kill-after=15 "$abl_limit" "$py" benchmarks/ablation.py --config "$config" --train-only \
  --steps "$steps" --batch "${IDC_ABLATION_BATCH:-16}" --crop "${IDC_ABLATION_CROP:-256}" \
  --workers "${IDC_ABLATION_WORKERS:-8}" --out "$work/ablation" --json "$stage/ablation/ablation-train.json" \
  --set "data.root=$carry/data" "$@" >"$stage/ablation/ablation.log" 2>&1
echo "ablation exit $?"; tail -3 "$stage/ablation/ablation.log"
fi

echo "== $(date -u +%T) pack ($(left) s left)"
for f in env.txt speed.json train.log metrics.csv; do cp "$work/train/$f" "$stage/train/" 2>/dev/null; done
cp "$work/train/run/curves.png" "$work/train/run/config.yaml" "$stage/train/" 2>/dev/null
"$py" scripts/pack_session.py "$work" "$stage" "$snap" --limit-mib "${IDC_PACK_MIB:-56}"
tar -cf - -C "$stage" . | split -b "${IDC_CHUNK:-15M}" -d - "$out/results.tar."
ls -l "$out"; echo "session done, $(left) s left"
