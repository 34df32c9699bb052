#!/usr/bin/env bash
# A virtual microphone for live-audio tests: PulseAudio with a null sink whose monitor is the
# default source. Whatever is played into the sink (paplay --device=kws_null --latency-msec=30 FILE;
# at paplay's default latency the monitor loses the first ~300 ms of each file) is what a
# recorder on the ALSA device "pulse" (PortAudio/sounddevice: --device pulse) hears.
#   scripts/virtual_mic.sh          set up (idempotent: safe to run again)
#   scripts/virtual_mic.sh --stop   stop the PulseAudio daemon started here
# Works as root in a container (no systemd, no D-Bus): the daemon runs in per-user mode.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

SINK=kws_null

if [ "${1:-}" = "--stop" ]; then
  pulseaudio --kill 2>/dev/null || true
  echo "virtual_mic: stopped"
  exit 0
fi

# PortAudio reaches PulseAudio through the ALSA "pulse" plugin (libasound2-plugins).
pkgs=(pulseaudio pulseaudio-utils libasound2-plugins libportaudio2)
bash "$here/apt_ensure.sh" virtual_mic "${pkgs[@]}"

if ! pactl info >/dev/null 2>&1; then
  # As root PulseAudio warns that it is "not intended to be run as root" but runs fine in per-user
  # mode; --exit-idle-time=-1 keeps it up between tests.
  pulseaudio --daemonize=yes --exit-idle-time=-1 --system=false --disallow-exit=no \
    --log-target=stderr --log-level=error 2>/dev/null || true
  for _ in $(seq 1 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
  if ! pactl info >/dev/null 2>&1; then
    echo "virtual_mic: PulseAudio did not start" >&2; exit 1
  fi
fi

if ! pactl list short sinks | awk '{print $2}' | grep -qx "$SINK"; then
  pactl load-module module-null-sink sink_name="$SINK" sink_properties=device.description="$SINK" >/dev/null
fi
# A suspended (idle) null sink's monitor delivers no samples: a listener would see a stalled device.
if pactl list short modules | awk '{print $2}' | grep -qx module-suspend-on-idle; then
  pactl unload-module module-suspend-on-idle
fi
# ... and one suspended before that (or by hand) stays suspended until told otherwise.
pactl suspend-sink "$SINK" 0
pactl set-default-sink "$SINK"
pactl set-default-source "$SINK.monitor"

if ! pactl list short sources | awk '{print $2}' | grep -qx "$SINK.monitor"; then
  echo "virtual_mic: source $SINK.monitor missing" >&2; exit 1
fi
echo "virtual_mic: ready: record from ALSA device 'pulse' (source $SINK.monitor); play with paplay --device=$SINK --latency-msec=30 FILE"
