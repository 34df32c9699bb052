#!/usr/bin/env bash
# Emulated Raspberry Pi check: does the torch-free runtime install and run on 64-bit Raspberry Pi OS
# (Debian bookworm, aarch64), and does it print the same detections there as on x86-64?
#
#   scripts/pi_check.sh [--model M.onnx] [--input REC.wav] [--cpus "cortex-a72 cortex-a76"]
#                       [--score-tol F] [-- KWS-LISTEN ARGS...]
#
# Without a Pi, the next best thing: an arm64 Debian bookworm userland assembled from Debian's own
# arm64 packages (python3.11, libportaudio2 and their dependency closure, unpacked with dpkg-deb -x)
# and run under qemu-user (Debian's qemu-user-static 7.2, unpacked too, nothing installed on the
# host). In it, a venv gets the kws-edge wheel from this tree plus whatever pip resolves from PyPI
# for aarch64 -- exactly what `pip install kws-edge` gives a Pi user; no torch. Then
# `kws-listen --input REC --json` runs emulating a Pi 4 core (Cortex-A72: no dot-product
# instructions) and a Pi 5 core (Cortex-A76: SDOT/UDOT), so both of onnxruntime's aarch64 int8 code
# paths run, and the detections are compared with an x86-64 run of the same wheel, same onnxruntime,
# same model and recording. Exit status 1 on any mismatch.
#
# Everything is built under .pi/ (gitignored) and reused on the next run: Debian packages, the
# userland, pip's cache, both venvs. Needs: bash, python3 (>= 3.10, with venv), apt-get and
# dpkg-deb (any Debian/Ubuntu host), network to deb.debian.org and PyPI. Root is not needed.
# The emulator's speed says nothing about a Pi's: see benchmarks/pi_estimate.py for that.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CALLER=$PWD  # --model / --input are read relative to where the script was run from
from_caller() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$CALLER/$1" ;; esac; }
cd "$REPO"
PI=${KWS_PI_DIR:-$REPO/.pi}
DEFAULT_MODEL=kws_edge/models/base.onnx
MODEL=$DEFAULT_MODEL
INPUT=""
CPUS="cortex-a72 cortex-a76"
SCORE_TOL=0.02
LISTEN_ARGS=()
CONSTRAINTS=$REPO/scripts/pi/constraints-emulator.txt
# Debian arm64 packages a Pi user has on Raspberry Pi OS (python3, python3-venv) or installs
# (libportaudio2). Deliberately NOT libsndfile1: soundfile's aarch64 wheel bundles it, and this
# check proves that. libstdc++6 is onnxruntime's (already on every Raspberry Pi OS image).
DEB_PKGS=(python3.11 python3.11-venv libportaudio2 libstdc++6)
SUITES=("bookworm main" "bookworm-updates main")
SECURITY="bookworm-security main"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { echo "pi_check: [$((SECONDS - ${START:-0}))s] $*" >&2; }
die() { echo "pi_check: error: $*" >&2; exit 1; }
usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
# run_quiet NAME CMD...: output to $LOGS/NAME.log, shown (and fatal) only when CMD fails.
run_quiet() {
  local name=$1; shift
  if ! "$@" > "$LOGS/$name.log" 2>&1; then
    grep -v 'WARNING: Location' "$LOGS/$name.log" | tail -30 >&2
    die "$name failed (full log: $LOGS/$name.log)"
  fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL=$(from_caller "${2:?--model needs a file}"); shift 2 ;;
    --input) INPUT=$(from_caller "${2:?--input needs a file}"); shift 2 ;;
    --cpus) CPUS=${2:?--cpus needs a list}; shift 2 ;;
    --score-tol) SCORE_TOL=${2:?--score-tol needs a number}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; LISTEN_ARGS=("$@"); break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

if [ -z "$INPUT" ]; then
  # The shipped demo recording: demo.wav if present, else the only .wav in kws_edge/assets.
  if [ -f kws_edge/assets/demo.wav ]; then INPUT=kws_edge/assets/demo.wav
  else
    shopt -s nullglob; wavs=(kws_edge/assets/*.wav); shopt -u nullglob
    [ ${#wavs[@]} -eq 1 ] || die "no --input given and no single demo recording in kws_edge/assets/ (found ${#wavs[@]})"
    INPUT=${wavs[0]}
  fi
fi
[ -f "$MODEL" ] || die "$MODEL: model not found (the shipped int8 model, or pass --model)"
# The shipped model is checked the way a Pi user runs it: kws-listen without --model, loading the
# copy inside the installed wheel (which proves the wheel carries it).
[ "$MODEL" -ef "$DEFAULT_MODEL" ] && USE_PACKAGED_MODEL=1 || USE_PACKAGED_MODEL=0
[ -f "$INPUT" ] || die "$INPUT: recording not found (pass --input)"
MODEL=$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")
INPUT=$(cd "$(dirname "$INPUT")" && pwd)/$(basename "$INPUT")

HOST_PY=${PYTHON:-python3}
for tool in apt-get dpkg-deb "$HOST_PY" sha256sum; do
  command -v "$tool" >/dev/null || die "'$tool' not found (a Debian/Ubuntu host with python3 is needed)"
done
[ -f "$KEYRING" ] || die "$KEYRING missing (apt-get install debian-archive-keyring)"
"$HOST_PY" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' \
  || die "$HOST_PY: Python >= 3.10 with the venv module needed"

START=$SECONDS
mkdir -p "$PI"
ROOT=$PI/aarch64/root
QEMU_DIR=$PI/aarch64/qemu
QEMU=$QEMU_DIR/usr/bin/qemu-aarch64-static
AVENV=$PI/aarch64/venv
XVENV=$PI/x86/venv
OUT=$PI/out
LOGS=$PI/logs
mkdir -p "$LOGS"
export PIP_CACHE_DIR=$PI/cache/pip
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_PROGRESS_BAR=off

# --- 1. arm64 Debian bookworm userland + qemu-user-static, from Debian's archive -----------------
APT=$PI/apt
apt_opts=(
  -o "Dir::State=$APT" -o "Dir::State::Lists=$APT/lists" -o "Dir::State::status=$APT/status"
  -o "Dir::Cache=$APT/cache" -o "Dir::Etc::SourceList=$APT/sources.list"
  -o "Dir::Etc::SourceParts=$APT/sources.list.d" -o "Dir::Etc::Preferences=$APT/preferences"
  -o "Dir::Etc::PreferencesParts=$APT/preferences.d" -o "Dir::Etc::Parts=$APT/apt.conf.d"
  -o "Dir::Etc::Trusted=$APT/trusted.gpg" -o "Dir::Etc::TrustedParts=$APT/trusted.gpg.d"
  # A private apt state: the host's dpkg database, architectures and sources stay untouched.
  -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o APT::Architectures::=amd64
  -o APT::Sandbox::User=root -o Debug::NoLocking=1 -o Acquire::Retries=3
  -o APT::Install-Recommends=false -o APT::Install-Suggests=false
)
sources() {
  for s in "${SUITES[@]}"; do echo "deb [signed-by=$KEYRING] http://deb.debian.org/debian $s"; done
  echo "deb [signed-by=$KEYRING] http://deb.debian.org/debian-security $SECURITY"
}
host_arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
[ "$host_arch" = amd64 ] || die "this check expects an x86-64 (amd64) host, not $host_arch"
stamp_want=$( { sources; echo "${DEB_PKGS[*]} qemu-user-static"; } | sha256sum | cut -c1-16)
if [ "$(cat "$PI/aarch64/.stamp" 2>/dev/null)" = "$stamp_want" ] && [ -x "$QEMU" ] \
   && [ -x "$ROOT/usr/bin/python3.11" ]; then
  log "1/6 arm64 userland: cached ($ROOT)"
else
  log "1/6 arm64 userland: resolving ${DEB_PKGS[*]} (arm64) + qemu-user-static (amd64) from deb.debian.org"
  mkdir -p "$APT"/{lists/partial,cache/archives/partial,sources.list.d,preferences.d,apt.conf.d,trusted.gpg.d}
  : > "$APT/status"
  sources > "$APT/sources.list"
  apt-get "${apt_opts[@]}" -qq update
  arm_pkgs=(); for p in "${DEB_PKGS[@]}"; do arm_pkgs+=("$p:arm64"); done
  # With an empty status file apt resolves the whole dependency closure, as on a bare system.
  apt-get "${apt_opts[@]}" -qq -y --download-only install "${arm_pkgs[@]}" qemu-user-static:amd64 >/dev/null
  # The files apt fetched (or had cached) for that closure: "Inst NAME (VERSION ... [ARCH])" lines.
  mapfile -t debs < <(apt-get "${apt_opts[@]}" -qq -s install "${arm_pkgs[@]}" qemu-user-static:amd64 \
      | sed -nE 's/^Inst ([^ :]+)(:[a-z0-9]+)? \(([^ ]+) .*\[([a-z0-9]+)\]\).*/\1_\3_\4.deb/p' | sed 's/:/%3a/g')
  [ ${#debs[@]} -gt 0 ] || die "apt resolved no packages"
  rm -rf "$PI/aarch64.new"; mkdir -p "$PI/aarch64.new/root" "$PI/aarch64.new/qemu"
  n=0
  for deb in "${debs[@]}"; do
    f=$APT/cache/archives/$deb
    [ -f "$f" ] || die "$f: not downloaded"
    case "$deb" in
      qemu-user-static_*) dpkg-deb -x "$f" "$PI/aarch64.new/qemu" ;;
      *_arm64.deb|*_all.deb) dpkg-deb -x "$f" "$PI/aarch64.new/root"; n=$((n + 1)) ;;
      *) die "unexpected package $deb" ;;
    esac
  done
  # The venv lives under .pi/aarch64 too; keep it only if the userland it points into is unchanged.
  rm -rf "$PI/aarch64"
  mv "$PI/aarch64.new" "$PI/aarch64"
  echo "$stamp_want" > "$PI/aarch64/.stamp"
  log "1/6 arm64 userland: $n Debian arm64 packages unpacked into $ROOT"
fi
"$QEMU" --version | head -1 | sed 's/^/pi_check:     /' >&2

# Under qemu-user, -L makes the emulated program see ROOT's files where they exist and the host's
# otherwise; new files land on host paths. So every path we create (venv, outputs) is a real host
# path under .pi/, and the venv's interpreter is a copy of ROOT's python3.11, not a symlink the
# host kernel would resolve to the host's x86-64 python.
emu() {
  local cpu=$1; shift
  env -u PYTHONPATH -u PYTHONHOME -u VIRTUAL_ENV LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    "$QEMU" -cpu "$cpu" -L "$ROOT" "$@"
}
EMU_CPU=${CPUS%% *}

# --- 2. the kws-edge wheel, from this tree ------------------------------------------------------
log "2/6 building the kws-edge wheel from this tree"
rm -rf "$PI/src" "$PI/wheels"; mkdir -p "$PI/src" "$PI/wheels"
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Tracked files plus new, not ignored ones: the tree as it stands, never .venv/.pi/build output.
  # (A tracked file someone just deleted is skipped rather than failing the copy.)
  git -C "$REPO" ls-files -z -co --exclude-standard \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | xargs -0 -r cp --parents -t "$PI/src"
else
  tar -C "$REPO" --exclude=./.venv --exclude=./.pi --exclude=./build --exclude=./runs -cf - . | tar -C "$PI/src" -xf -
fi
run_quiet wheel "$HOST_PY" -m pip wheel --no-deps -w "$PI/wheels" "$PI/src"
wheels=("$PI"/wheels/kws_edge-*.whl)
WHEEL=${wheels[0]}
[ -f "$WHEEL" ] || die "building the kws-edge wheel failed"
"$HOST_PY" - "$WHEEL" <<'EOF' || die "the wheel lacks the runtime (kws_edge/listen_cli.py)"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
sys.exit("kws_edge/listen_cli.py" not in names)
EOF
log "    $(basename "$WHEEL")"

# --- 3. aarch64 venv: pip resolves the runtime's dependencies from PyPI, as on a Pi -------------
if [ ! -x "$AVENV/bin/python" ]; then
  log "3/6 aarch64 venv: creating $AVENV (emulated python3.11 -m venv)"
  emu "$EMU_CPU" "$ROOT/usr/bin/python3.11" -m venv --copies --without-pip "$AVENV"
else
  log "3/6 aarch64 venv: reusing $AVENV"
fi
# ensurepip would re-execute the interpreter, which qemu-user cannot do without binfmt_misc; pip
# runs just as well straight from Debian's own pip wheel (python3-pip-whl).
pip_wheels=("$ROOT"/usr/share/python-wheels/pip-*.whl)
PIP_WHL=${pip_wheels[0]}
[ -f "$PIP_WHL" ] || die "Debian's pip wheel (python3-pip-whl) is missing from $ROOT"
apip() { emu "$EMU_CPU" "$AVENV/bin/python" "$PIP_WHL/pip" "$@"; }
# --only-binary: a Pi gets wheels; building from source under emulation would prove nothing.
# --no-compile: byte-compiling numpy under the emulator costs time and proves nothing either.
# The wheel's content (not its zip timestamps) plus the pins: when unchanged since the last run, the
# venv already holds exactly this, and the emulated pip (half a minute) is skipped.
want=$("$HOST_PY" - "$WHEEL" "$CONSTRAINTS" <<'EOF'
import hashlib, sys, zipfile
h = hashlib.sha256(open(sys.argv[2], "rb").read())
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in sorted(z.namelist()):
        h.update(name.encode() + b"\0" + z.read(name))
print(h.hexdigest()[:16])
EOF
)
if [ "$(cat "$AVENV/.kws-stamp" 2>/dev/null)" = "$want" ]; then
  log "    aarch64 venv holds this wheel already"
else
  rm -f "$AVENV/.kws-stamp"
  run_quiet aarch64-pip-deps apip install --no-compile --only-binary=:all: -c "$CONSTRAINTS" "$WHEEL"
  run_quiet aarch64-pip-kws apip install --no-compile --no-deps --force-reinstall "$WHEEL"
  echo "$want" > "$AVENV/.kws-stamp"
fi
[ -f "$AVENV/bin/kws-listen" ] || die "pip did not install kws-listen into $AVENV"

# --- 4. x86-64 reference venv: same wheel, same onnxruntime, no torch ---------------------------
if [ ! -x "$XVENV/bin/python" ]; then
  log "4/6 x86-64 reference venv: creating $XVENV"
  "$HOST_PY" -m venv "$XVENV"
else
  log "4/6 x86-64 reference venv: reusing $XVENV"
fi
if [ "$(cat "$XVENV/.kws-stamp" 2>/dev/null)" != "$want" ]; then
  rm -f "$XVENV/.kws-stamp"
  run_quiet x86-pip-deps "$XVENV/bin/python" -m pip install --only-binary=:all: -c "$CONSTRAINTS" "$WHEEL"
  run_quiet x86-pip-kws "$XVENV/bin/python" -m pip install --no-deps --force-reinstall "$WHEEL"
  echo "$want" > "$XVENV/.kws-stamp"
fi
[ -x "$XVENV/bin/kws-listen" ] || die "pip did not install kws-listen into $XVENV"

# --- 5. environment reports: aarch64, no torch, the libraries load ------------------------------
rm -rf "$OUT"; mkdir -p "$OUT"
log "5/6 environment"
(cd "$OUT" && emu "$EMU_CPU" "$AVENV/bin/python" "$REPO/scripts/pi/env_report.py" --expect-machine aarch64) \
  2> >(grep -v 'cpuid_info warning' >&2) | sed 's/^/    aarch64: /' >&2 \
  || die "the aarch64 environment is not what a Pi needs (see FAIL lines above)"
(cd "$OUT" && "$XVENV/bin/python" "$REPO/scripts/pi/env_report.py" --expect-machine x86_64) \
  | sed 's/^/    x86-64:  /' >&2 || die "the x86-64 reference environment is wrong (see FAIL lines above)"
# PortAudio must initialise and enumerate on aarch64 too. The emulator has no sound devices, so
# "no input devices found" (exit 1) is the expected answer; a traceback or a crash is not.
rc=0
(cd "$OUT" && emu "$EMU_CPU" "$AVENV/bin/python" "$AVENV/bin/kws-listen" --list-devices) \
  > "$LOGS/aarch64-list-devices.log" 2>&1 || rc=$?
if [ "$rc" -eq 0 ] || { [ "$rc" -eq 1 ] && grep -q 'no input devices found' "$LOGS/aarch64-list-devices.log"; }; then
  log "    aarch64: kws-listen --list-devices: PortAudio initialised ($(head -1 "$LOGS/aarch64-list-devices.log"))"
else
  cat "$LOGS/aarch64-list-devices.log" >&2
  die "aarch64 kws-listen --list-devices failed (exit $rc)"
fi

# --- 6. the same recording through kws-listen on both ISAs, then compare ------------------------
log "6/6 kws-listen --model $(basename "$MODEL") --input $(basename "$INPUT") --json ${LISTEN_ARGS[*]}"
if [ "$USE_PACKAGED_MODEL" = 1 ]; then
  listen_args=(--input "$INPUT" --json "${LISTEN_ARGS[@]}")
  log "    (the shipped model, loaded from each venv's installed kws_edge/models/base.onnx)"
else
  listen_args=(--model "$MODEL" --input "$INPUT" --json "${LISTEN_ARGS[@]}")
fi
# Run from $OUT so that the runtime is imported from the venvs, never from this tree.
cd "$OUT"
t0=$SECONDS
"$XVENV/bin/kws-listen" "${listen_args[@]}" > x86_64.jsonl 2> x86_64.log || { cat x86_64.log >&2; die "x86-64 kws-listen failed"; }
"$XVENV/bin/python" "$REPO/scripts/pi/window_probs.py" "$MODEL" "$INPUT" x86_64.npz 2>/dev/null
log "    x86-64:  $(wc -l < x86_64.jsonl) detections ($((SECONDS - t0)) s); $(tail -1 x86_64.log)"
"$XVENV/bin/python" "$REPO/scripts/pi/compare.py" detections x86_64.jsonl x86_64.jsonl --require-some >/dev/null \
  || die "the x86-64 run found no keyword in $INPUT: an empty comparison would prove nothing"
failed=0
for cpu in $CPUS; do
  t0=$SECONDS
  # The console script is a Python file; run it with the venv's interpreter (no binfmt_misc here).
  emu "$cpu" "$AVENV/bin/python" "$AVENV/bin/kws-listen" "${listen_args[@]}" > "aarch64-$cpu.jsonl" \
    2> "aarch64-$cpu.log" || { cat "aarch64-$cpu.log" >&2; die "aarch64 ($cpu) kws-listen failed"; }
  emu "$cpu" "$AVENV/bin/python" "$REPO/scripts/pi/window_probs.py" "$MODEL" "$INPUT" "aarch64-$cpu.npz" 2>/dev/null
  log "    aarch64 ($cpu, emulated): $(wc -l < "aarch64-$cpu.jsonl") detections ($((SECONDS - t0)) s); $(tail -1 "aarch64-$cpu.log")"
  "$XVENV/bin/python" "$REPO/scripts/pi/compare.py" detections x86_64.jsonl "aarch64-$cpu.jsonl" \
    --score-tol "$SCORE_TOL" 2>&1 | sed "s/^/    $cpu /" >&2 || failed=1
  "$XVENV/bin/python" "$REPO/scripts/pi/compare.py" probs x86_64.npz "aarch64-$cpu.npz" \
    --prob-tol "$SCORE_TOL" 2>&1 | sed "s/^/    $cpu /" >&2 || failed=1
done
echo "    x86-64 detections ($OUT/x86_64.jsonl):" >&2
sed 's/^/      /' x86_64.jsonl >&2

elapsed=$((SECONDS - START))
if [ "$failed" -ne 0 ]; then
  die "aarch64 detections differ from x86-64 (outputs in $OUT); took ${elapsed} s"
fi
log "OK: aarch64 ($CPUS, emulated) detections equal x86-64's on $(basename "$INPUT"); took ${elapsed} s"
