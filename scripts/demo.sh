#!/usr/bin/env bash
# The out-of-the-box demo: set up the torch-free runtime, then listen to the bundled example
# recording with the shipped base model and print each detection with its time and score.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
demo=kws_edge/assets/demo.wav
echo
echo "kws-listen on $demo (keywords, other speech and noise; expected words in ${demo%.wav}.csv):"
exec .venv/bin/kws-listen --input "$demo" "$@"
