#!/usr/bin/env bash
# The second base (`kws-train --init base-b`): the same M5 (64 channels) trained on four times the
# synthetic data of scripts/make_base_model.sh: its seed-1 set plus two new 1000-clip-a-word sets
# (seeds 2 and 3), 95,000 clips. Alone it is no better than `base` (better on held-out synthetic
# voices, worse on real people out of the box); a fine-tune of each, exported together, halves
# the false alarms (docs/export.md, "A pair of models"). Installs kws_edge/models/base_b.pt.
#   bash scripts/make_base_b.sh   (after scripts/make_base_model.sh; ~45 min on a 2-core CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
BASE_WORK=${BASE_WORK:-work-data/base}    # where make_base_model.sh left its seed-1 set
WORK=${WORK:-work-data/base_b}
EPOCHS=${EPOCHS:-36}
LR_STEP=${LR_STEP:-15}
THREADS=${THREADS:-0}
NOISE=${NOISE:-../shared/data/background_noise}
mkdir -p "$WORK"
[ -f "$BASE_WORK/synth/manifest.json" ] || { echo "make_base_b: run scripts/make_base_model.sh first ($BASE_WORK/synth)" >&2; exit 2; }

for seed in 2 3; do
  if [ ! -f "$WORK/synth$seed/manifest.json" ]; then
    "$bin/kws-synth" "$WORK/synth$seed" --per-word 1000 --unknown 3000 --seed "$seed" --noise "$NOISE" \
      --jobs 2 --overwrite
  fi
done
rm -rf "$WORK/merged"
"$bin/python" scripts/merge_synth.py "$WORK/merged" "$BASE_WORK/synth" "$WORK/synth2" "$WORK/synth3"

"$bin/kws-train" --data "$WORK/merged" --out "$WORK/train" --epochs "$EPOCHS" --lr-step "$LR_STEP" \
  --patience 15 --noise "$NOISE" --seed 1 --channels 64 --speed 0.1 --threads "$THREADS"
"$bin/python" scripts/record_provenance.py "$WORK/train/model.pt" --synth "$WORK/merged" \
  --recipe "scripts/make_base_b.sh (EPOCHS=$EPOCHS LR_STEP=$LR_STEP THREADS=$THREADS)" --out "$WORK/base_b.pt"
cp "$WORK/base_b.pt" kws_edge/models/base_b.pt
