#!/usr/bin/env bash
# Set up everything the tests need (Debian packages, .venv with all extras, a PulseAudio virtual
# microphone) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
# The live-audio tests listen through a PulseAudio null sink. In CI a broken virtual mic is a
# failure; on a developer's machine those tests skip with a reason instead.
if [ "${CI:-}" = "true" ]; then
  bash scripts/virtual_mic.sh
else
  bash scripts/virtual_mic.sh || echo "test: virtual microphone unavailable; live-audio tests will skip" >&2
fi
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q "$@"
