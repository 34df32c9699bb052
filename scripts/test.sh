#!/usr/bin/env bash
# Set up everything the tests need (Debian packages, .venv with all extras, a PulseAudio virtual
# microphone) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
if [ -f scripts/virtual_mic.sh ]; then
  bash scripts/virtual_mic.sh || echo "test: virtual microphone unavailable; live-audio tests will skip" >&2
fi
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q "$@"
