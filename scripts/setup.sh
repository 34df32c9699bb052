#!/usr/bin/env bash
# Set up kws-edge from nothing: Debian packages, a virtual environment in .venv, the package.
#   scripts/setup.sh            runtime only (numpy, onnxruntime, sounddevice, soundfile, soxr; no torch)
#   scripts/setup.sh --dev      + training/export extra (torch 2.11 + torchaudio 2.11, ~5 GB) + test tools,
#                               + the base recipe's other TTS engines: RHVoice and SVOX Pico (Debian
#                               non-free, enabled by scripts/enable_nonfree.sh), Piper (.piper-venv) and
#                               Kokoro (in the dev extra)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=runtime
[ "${1:-}" = "--dev" ] && mode=dev

runtime_apt=(libportaudio2)
dev_apt=(libportaudio2 espeak-ng flite sox pulseaudio pulseaudio-utils libasound2-plugins alsa-utils)
if [ "$mode" = dev ]; then pkgs=("${dev_apt[@]}"); else pkgs=("${runtime_apt[@]}"); fi

bash scripts/apt_ensure.sh setup "${pkgs[@]}"
if [ "$mode" = dev ]; then
  nonfree_apt=(rhvoice rhvoice-english libttspico-utils)
  missing_nonfree=false
  for p in "${nonfree_apt[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing_nonfree=true; done
  if [ "$missing_nonfree" = true ]; then
    if bash scripts/enable_nonfree.sh; then
      bash scripts/apt_ensure.sh setup "${nonfree_apt[@]}"
    else
      echo "setup: warning: no RHVoice / SVOX Pico (kws-synth --engines rhvoice,pico, step 1c of" \
           "scripts/make_base_model.sh); install ${nonfree_apt[*]} by hand" >&2
    fi
  fi
fi

py=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($py --version)"
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# An editable install of this layout (training/ and export/ mapped into kws_edge) goes through
# setuptools' import finder, which warns about it in 10 lines on every install: expected here.
export PYTHONWARNINGS="ignore:Editable installation"
# --dev from PyPI on x86-64 Linux is torch's CUDA build: .venv grows to ~5 GB (2.7 GB of CUDA
# libraries, 0.6 GB triton), GPU or not. A torch 2.11.0 already in .venv (e.g. the CPU build from
# https://download.pytorch.org/whl/cpu, see docs/training.md) satisfies the pin and is kept.
if [ "$mode" = dev ]; then
  if ! .venv/bin/python -m pip show -q torch >/dev/null 2>&1; then
    echo "setup: torch from PyPI is its CUDA build, ~5 GB with its CUDA libraries, GPU or not;" \
         "for the CPU build see docs/training.md, \"Install\""
  fi
  echo "setup: installing kws-edge with the train and dev extras (torch 2.11 + torchaudio 2.11)"
  .venv/bin/python -m pip install -q -e ".[train,dev]"
  bash scripts/setup_piper.sh
else
  echo "setup: installing the kws-edge runtime (no torch)"
  .venv/bin/python -m pip install -q -e .
fi
echo "setup: done ($mode). Commands are in .venv/bin: kws-listen, kws-record, kws-info$([ "$mode" = dev ] && echo ', kws-train, kws-export, kws-eval, kws-synth')"
