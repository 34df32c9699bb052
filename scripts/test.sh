#!/usr/bin/env bash
# Set up everything the tests need (Debian packages, .venv with all extras, a PulseAudio virtual
# microphone) and run the whole test suite. Extra arguments go to pytest.
# On exit it undoes what it did to the sound system: a PulseAudio daemon it started is stopped;
# where one was already running, its null sink is removed and the default source and sink are
# restored. (Left behind, the null sink's monitor became the default input and a plain
# `kws-listen` listened to its silence as if it were a microphone.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev

SINK=kws_null
pa_up() { command -v pactl >/dev/null 2>&1 && pactl info >/dev/null 2>&1; }
pa_default() { pactl info 2>/dev/null | sed -n "s/^Default $1: //p"; }
pa_was_up=false old_source="" old_sink="" had_sink=false had_suspend=false
if pa_up; then
  pa_was_up=true
  old_source=$(pa_default Source)
  old_sink=$(pa_default Sink)
  pactl list short sinks | awk '{print $2}' | grep -qx "$SINK" && had_sink=true
  pactl list short modules | awk '{print $2}' | grep -qx module-suspend-on-idle && had_suspend=true
fi

restore_sound() {
  if [ "$pa_was_up" = false ]; then
    pa_up && bash scripts/virtual_mic.sh --stop >/dev/null
    return 0
  fi
  pa_up || return 0
  if [ "$had_sink" = false ]; then
    pactl list short modules | awk -v s="sink_name=$SINK" '$2 == "module-null-sink" && index($0, s) {print $1}' \
      | while read -r id; do pactl unload-module "$id" || true; done
  fi
  [ "$had_suspend" = true ] && ! pactl list short modules | awk '{print $2}' | grep -qx module-suspend-on-idle \
    && pactl load-module module-suspend-on-idle >/dev/null
  [ -n "$old_sink" ] && pactl set-default-sink "$old_sink" 2>/dev/null
  [ -n "$old_source" ] && pactl set-default-source "$old_source" 2>/dev/null
  return 0
}
trap restore_sound EXIT

# The live-audio tests listen through a PulseAudio null sink. In CI a broken virtual mic is a
# failure; on a developer's machine those tests skip with a reason instead.
if [ "${CI:-}" = "true" ]; then
  bash scripts/virtual_mic.sh
else
  bash scripts/virtual_mic.sh || echo "test: virtual microphone unavailable; live-audio tests will skip" >&2
fi
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
