#!/usr/bin/env bash
# Steps are functions called by name (run_step NAME BUDGET FUNCTION), which shellcheck cannot see.
# shellcheck disable=SC2317
#
# Device acceptance run: everything accelbench measures, once, on one accelerator, in under 8
# minutes of wall time, into one output folder that fits through a narrow pipe (at most 8 files
# of at most 16 MiB each).
#
#   bash benchmarks/device-acceptance.sh [--device D] [--data-dir DIR] [--wheels DIR]
#                                        [--budget S] [--python PY] [--only STEP,...] [--smoke] OUT
#   OUT=/some/folder bash benchmarks/device-acceptance.sh
#
# Run it from anywhere on a machine whose Python already has torch for its accelerator. It never
# touches that torch: accelbench runs from this checkout (PYTHONPATH=src), and what the machine
# lacks (pydantic, and pytest for the hw tier) is installed from wheels with
# `pip install --no-index --no-deps --target` into a scratch folder: every .device/*.whl of the
# checkout, else ../shared/device/wheels/*.whl when pydantic is missing.
#
# Steps, in order, each under its own time budget (`timeout`, SIGINT first so a sweep stores
# what it has) and inside one overall deadline, each timed with its exit status recorded; a
# failing step never stops the others:
#   setup       wheels and imports
#   devices     accelbench devices --json
#   idle-power  accelbench idle-power --seconds 20 (first, while the device is still idle)
#   hw-tests    pytest -m hw (the hardware test tier)
#   peaks       GEMM peaks in bfloat16, float16, tfloat32, float32 at 8192; peak bandwidth
#   gemm        square GEMM sweep 1024..8192 (benchmarks/acceptance/gemm.yaml)
#   energy      energy counter against sampled power over one GEMM window
#               (benchmarks/energy_check.py)
#   bandwidth   h2d and d2h (pinned and pageable) and d2d, 4 KiB..1 GiB
#               (benchmarks/acceptance/bandwidth.yaml)
#   resnet56    resnet56-cifar10 to 90% in amp-bf16, eager, on the real CIFAR-10
#               (benchmarks/acceptance/resnet56.yaml)
#   quick-ops   the quick-ops operator sweeps
#   report      accelbench report (figures go into the bundle)
#   export      accelbench results export (JSONL: `accelbench results import` reads it)
#   bundle      the store, figures, per-step JSON and the hw tier's JUnit XML in one tarball
# then a one-screen summary (benchmarks/acceptance_summary.py), printed last.
#
# OUT receives: acceptance.log (every step's output, appended as it runs, so it survives a
# timeout), steps.tsv (one line per finished step), devices.json, report.html, results.jsonl,
# bundle.tar.gz and summary.txt.
#
# --smoke runs the same steps at tiny sizes (benchmarks/acceptance/smoke-*.yaml) so the script
# can be tested on the fake device (`--device fake --smoke`) in the default test tier; what the
# fake cannot do (the hw tier) comes out skipped, not failed.
#
# Options:
#   --device D     the device (default: the first accelerator, as accelbench picks it)
#   --data-dir DIR holds cifar10-jpeg.tar.gz (default: $ACCELBENCH_DATA_DIR, else .device/ when
#                  it holds CIFAR-10, else ../shared/data)
#   --wheels DIR   install exactly the wheels there (default: $ACCELBENCH_WHEELS, else as above)
#   --budget S     the overall deadline in seconds (default 465); the last 45 s are kept for
#                  report, export and bundle, which always get at least 15 s each
#   --python PY    the interpreter with torch (default: $PYTHON, else python3)
#   --only S,...   run just these steps (keep setup where pydantic comes from wheels)
#   --smoke        tiny sizes, for tests; budgets for a loaded test machine (1800 s overall,
#                  at least 300 s a step)
# Exit status: 0 when every step is ok or skipped, 1 when one failed or ran out of time, 2 for a
# usage error, 130 when interrupted.
set -u

MIB=$((1 << 20))
MAX_FILES=8
MAX_FILE_BYTES=$((16 * MIB))
RESERVE_S=45 # kept back from the deadline for report, export and bundle

usage() { sed -n '5,/^set -u/p' "$0" | sed -e '/^set -u/d' -e 's/^# \{0,1\}//'; }
die() {
  echo "error: $*" >&2
  exit 2
}

# -- arguments ----------------------------------------------------------------------------------
DEVICE=""
DATA_DIR=""
WHEELS="${ACCELBENCH_WHEELS:-}"
SMOKE=0
ONLY=""
BUDGET_S=""
PY="${PYTHON:-python3}"
OUT_ARG="${OUT:-}"
while (($#)); do
  case "$1" in
    --device) [ $# -ge 2 ] || die "--device: expected a device spec"; DEVICE=$2; shift 2 ;;
    --device=*) DEVICE=${1#*=}; shift ;;
    --data-dir) [ $# -ge 2 ] || die "--data-dir: expected a folder"; DATA_DIR=$2; shift 2 ;;
    --data-dir=*) DATA_DIR=${1#*=}; shift ;;
    --wheels) [ $# -ge 2 ] || die "--wheels: expected a folder"; WHEELS=$2; shift 2 ;;
    --wheels=*) WHEELS=${1#*=}; shift ;;
    --budget) [ $# -ge 2 ] || die "--budget: expected seconds"; BUDGET_S=$2; shift 2 ;;
    --budget=*) BUDGET_S=${1#*=}; shift ;;
    --python) [ $# -ge 2 ] || die "--python: expected an interpreter"; PY=$2; shift 2 ;;
    --python=*) PY=${1#*=}; shift ;;
    --smoke) SMOKE=1; shift ;;
    --only) [ $# -ge 2 ] || die "--only: expected step names"; ONLY=$2; shift 2 ;;
    --only=*) ONLY=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "$1: unknown option (see --help)" ;;
    *) OUT_ARG=$1; shift ;;
  esac
done
[ -n "$OUT_ARG" ] || die "no output folder: give it as the argument or in the OUT environment variable"
# A smoke run checks plumbing, not speed: on a loaded test machine its Python start-ups alone
# can outlast the device budgets, so it gets 30 minutes overall and at least 300 s a step.
SMOKE_STEP_S=300
if [ -z "$BUDGET_S" ]; then
  if ((SMOKE)); then BUDGET_S=1800; else BUDGET_S=465; fi
fi
case "$BUDGET_S" in
  '' | *[!0-9]* | 0) die "--budget $BUDGET_S: expected a positive whole number of seconds" ;;
esac
STEP_NAMES=(setup devices idle-power hw-tests peaks gemm energy bandwidth resnet56 quick-ops
  report export bundle)
if [ -n "$ONLY" ]; then
  for s in ${ONLY//,/ }; do
    [[ " ${STEP_NAMES[*]} " == *" $s "* ]] || die "--only $s: no such step (${STEP_NAMES[*]})"
  done
fi
[ -z "$DEVICE" ] || [ -n "${DEVICE// /}" ] || die "--device: empty"
command -v timeout >/dev/null || die "timeout (GNU coreutils) is not installed"
command -v "$PY" >/dev/null || die "--python $PY: no such interpreter"
if [ -e "$OUT_ARG" ] && { [ ! -d "$OUT_ARG" ] || [ -n "$(ls -A "$OUT_ARG")" ]; }; then
  die "$OUT_ARG: output folder exists and is not empty; give a new or empty folder"
fi
mkdir -p "$OUT_ARG" || die "$OUT_ARG: cannot create the output folder"

# Paths the user gave are relative to where they ran this; everything below runs in the checkout.
absolute() { if [ -e "$1" ]; then (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); else echo "$1"; fi; }
OUT=$(cd "$OUT_ARG" && pwd)
[ -z "$DATA_DIR" ] || DATA_DIR=$(absolute "$DATA_DIR")
[ -z "$WHEELS" ] || WHEELS=$(absolute "$WHEELS")
[[ $PY != */* ]] || PY=$(absolute "$PY")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || die "$ROOT: cannot enter the checkout"
[ -f src/accelbench/__init__.py ] || die "$ROOT: not an accelbench checkout (no src/accelbench)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/accelbench-acceptance.XXXXXX") || die "cannot make a scratch folder"
LOG="$OUT/acceptance.log"
STEPS="$OUT/steps.tsv"
DB="$WORK/accelbench.db"
if [ -z "$DATA_DIR" ]; then
  if [ -n "${ACCELBENCH_DATA_DIR:-}" ]; then
    DATA_DIR=$ACCELBENCH_DATA_DIR
  elif compgen -G ".device/cifar10-jpeg*" >/dev/null || [ -d .device/cifar-10-batches-py ]; then
    DATA_DIR=.device
  else
    DATA_DIR=../shared/data
  fi
fi

export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 # every line reaches the log as it is printed
export COLUMNS="${COLUMNS:-120}" # rich tables in the log, not squeezed to 80 columns
AB=("$PY" -m accelbench)
DEV_ARGS=()
[ -z "$DEVICE" ] || DEV_ARGS=(--device "$DEVICE")

if ((SMOKE)); then
  SUITES=benchmarks/acceptance/smoke-
  OPS_SUITE=benchmarks/acceptance/smoke-ops.yaml
else
  SUITES=benchmarks/acceptance/
  OPS_SUITE=quick-ops
fi

# -- time ---------------------------------------------------------------------------------------
now_ms() {
  local ns
  ns=$(date +%s%N)
  echo $((ns / 1000000))
}
T0_MS=$(now_ms)
DEADLINE_MS=$((T0_MS + BUDGET_S * 1000))
elapsed() { # seconds since the start, one decimal
  local ms=$(($(now_ms) - T0_MS))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}
# CPU seconds (user + system) of this script's finished children, from /proc: a step's share
# tells its cost apart from waiting on a contended machine. "-" where /proc is absent.
TICKS=$(getconf CLK_TCK 2>/dev/null || echo 100)
child_cpu_ms() {
  local f
  if read -r -a f </proc/$$/stat 2>/dev/null; then
    echo $(((f[15] + f[16]) * 1000 / TICKS))
  else
    echo -1
  fi
}
log() { printf '%s\n' "$*" >>"$LOG"; }
say() { # to the terminal and the log
  printf '%s\n' "$*"
  log "$*"
}

# -- steps --------------------------------------------------------------------------------------
# run_step NAME BUDGET FUNCTION: FUNCTION runs its commands through `timed`, which gives each the
# time left of the step; it may set STEP_STATUS (e.g. skipped) and STEP_NOTE. The step's line in
# steps.tsv is written as soon as it ends.
STEP_NAME=""
STEP_END_MS=0
STEP_STATUS=""
STEP_NOTE=""
ABORTED=0
FAILED=0

printf 'step\tstatus\trc\tseconds\tcpu_s\tbudget_s\tnote\n' >"$STEPS"

run_step() {
  local name=$1 budget=$2 fn=$3 final=${4:-}
  local now left rc=0 status t_start cpu_start
  [ -z "$ONLY" ] || [[ ",$ONLY," == *",$name,"* ]] || return 0
  ((!SMOKE || budget >= SMOKE_STEP_S)) || budget=$SMOKE_STEP_S
  if ((ABORTED)) && [ -z "$final" ]; then
    record "$name" skipped "-" 0 -1 "$budget" "the run was interrupted"
    return
  fi
  now=$(now_ms)
  left=$(((DEADLINE_MS - now) / 1000))
  # Steps before the final ones leave RESERVE_S for report, export and bundle; those always
  # get at least 15 s, even past the deadline, so a late run still leaves its results behind.
  if [ -z "$final" ]; then left=$((left - RESERVE_S)); elif ((left < 15)); then left=15; fi
  ((budget <= left)) || budget=$left
  if ((budget < 5)); then
    record "$name" skipped "-" 0 -1 "$budget" "no time left in the ${BUDGET_S} s budget"
    return
  fi
  STEP_NAME=$name
  STEP_STATUS=""
  STEP_NOTE=""
  t_start=$now
  cpu_start=$(child_cpu_ms)
  STEP_END_MS=$((now + budget * 1000))
  printf '[%6ss] %-11s ...' "$(elapsed)" "$name"
  log ""
  log "==== [$(elapsed) s] step $name (budget $budget s)"
  "$fn"
  rc=$?
  status=$STEP_STATUS
  if ((ABORTED)) && ((rc != 0)); then
    status=interrupted
  elif [ -z "$status" ]; then
    case $rc in
      0) status=ok ;;
      124 | 137) status=timeout ;;
      *) status=failed ;;
    esac
  fi
  local cpu=-1
  ((cpu_start < 0)) || cpu=$(($(child_cpu_ms) - cpu_start))
  record "$name" "$status" "$rc" $(($(now_ms) - t_start)) "$cpu" "$budget" "$STEP_NOTE"
}

tenths() { if (($1 < 0)); then echo -; else printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); fi; }
record() { # NAME STATUS RC WALL_MS CPU_MS BUDGET NOTE
  local secs cpu note=${7//[$'\t\n\r']/ } # one line, one field
  secs=$(tenths "$4")
  cpu=$(tenths "$5")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$secs" "$cpu" "$6" "$note" >>"$STEPS"
  log "==== [$(elapsed) s] step $1: $2 (rc $3) in $secs s, cpu $cpu s${note:+: $note}"
  if [ "$STEP_NAME" = "$1" ]; then
    printf ' %s in %s s (cpu %s s)\n' "$2" "$secs" "$cpu"
  else
    printf '[%6ss] %-11s ... %s: %s\n' "$(elapsed)" "$1" "$2" "$note"
  fi
  case $2 in ok | skipped) ;; *) FAILED=$((FAILED + 1)) ;; esac
}

# timed [--stdout FILE] CMD...: run CMD under the step's remaining time, output appended to the
# log (stdout to FILE instead, copied into the log afterwards). SIGINT first: accelbench and
# pytest stop cleanly and keep what they measured; SIGKILL 10 s later if they do not. The
# command runs in the background so that a signal to this script is handled at once (forwarded
# to it by on_signal) rather than after the step.
CHILD=""
timed() {
  local stdout=/dev/null
  if [ "$1" = "--stdout" ]; then
    stdout=$2
    shift 2
  fi
  local left=$(((STEP_END_MS - $(now_ms)) / 1000))
  ((left >= 1)) || left=1
  log "\$ $*"
  if [ "$stdout" = /dev/null ]; then
    timeout -s INT -k 10 "$left" "$@" >>"$LOG" 2>&1 </dev/null &
  else
    timeout -s INT -k 10 "$left" "$@" >"$stdout" 2>>"$LOG" </dev/null &
  fi
  CHILD=$!
  local rc=0
  wait "$CHILD" || rc=$?
  # A trapped signal ends `wait` early (status > 128) while the command is still stopping.
  while ((rc > 128)) && kill -0 "$CHILD" 2>/dev/null; do
    rc=0
    wait "$CHILD" || rc=$?
  done
  CHILD=""
  [ "$stdout" = /dev/null ] || cat "$stdout" >>"$LOG"
  ((rc == 0)) || log "(exit status $rc)"
  return "$rc"
}

step_setup() {
  local wheels=() how="already importable"
  shopt -s nullglob
  if [ -n "$WHEELS" ]; then
    wheels=("$WHEELS"/*.whl)
  else
    wheels=(.device/*.whl)
    if ((${#wheels[@]} == 0)) && ! "$PY" -c 'import pydantic' 2>/dev/null; then
      wheels=(../shared/device/wheels/*.whl)
    fi
  fi
  shopt -u nullglob
  if [ -n "$WHEELS" ] && ((${#wheels[@]} == 0)); then
    STEP_NOTE="--wheels $WHEELS: no .whl files there"
    return 1
  fi
  if ((${#wheels[@]})); then
    # --no-deps --no-index: exactly these wheels, nothing resolved, and so never torch.
    timed "$PY" -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
      --target "$WORK/site" "${wheels[@]}" || return
    export PYTHONPATH="$WORK/site:$PYTHONPATH"
    how="from ${#wheels[@]} wheels in $(dirname "${wheels[0]}")"
  fi
  timed --stdout "$WORK/setup.txt" "$PY" -c '
import os, platform, pydantic, accelbench
print(f"python {platform.python_version()}, pydantic {pydantic.VERSION}, accelbench {accelbench.__version__}")
print("pydantic from", os.path.dirname(pydantic.__file__), "; accelbench from", os.path.dirname(accelbench.__file__))
' || return
  STEP_NOTE="$(head -n 1 "$WORK/setup.txt"); pydantic $how"
}

step_devices() {
  timed --stdout "$OUT/devices.json" "${AB[@]}" devices --json
}

step_idle_power() {
  if ((SMOKE)); then
    timed "${AB[@]}" idle-power "${DEV_ARGS[@]}" --db "$DB" --seconds 1 --settle 0
  else
    timed "${AB[@]}" idle-power "${DEV_ARGS[@]}" --db "$DB" --seconds 20
  fi
}

step_hw_tests() {
  if ! "$PY" -c 'import pytest' 2>/dev/null; then
    STEP_STATUS=skipped
    STEP_NOTE="pytest is not installed for $PY (put its wheels in .device/)"
    return 0
  fi
  local rc=0
  timed "$PY" -m pytest -m hw tests/hw -p no:cacheprovider --junitxml "$WORK/hw-junit.xml" \
    || rc=$?
  local counts
  counts=$(grep -o -m1 '<testsuite [^>]*>' "$WORK/hw-junit.xml" 2>/dev/null)
  local n skipped failures errors
  n=$(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$counts")
  skipped=$(sed -n 's/.* skipped="\([0-9]*\)".*/\1/p' <<<"$counts")
  failures=$(sed -n 's/.* failures="\([0-9]*\)".*/\1/p' <<<"$counts")
  errors=$(sed -n 's/.* errors="\([0-9]*\)".*/\1/p' <<<"$counts")
  if [ -n "$n" ]; then
    STEP_NOTE="$n tests: $((n - skipped - failures - errors)) passed, $failures failed, $errors errors, $skipped skipped"
  fi
  # Every test skipped (no accelerator here) or none collected: nothing ran, nothing failed.
  if { ((rc == 0)) && [ -n "$n" ] && ((n > 0 && skipped == n)); } || ((rc == 5)); then
    STEP_STATUS=skipped
    local why
    why=$(grep -o '<skipped [^>]*message="[^"]*"' "$WORK/hw-junit.xml" 2>/dev/null \
      | head -n 1 | sed 's/.*message="\([^"]*\)"/\1/')
    STEP_NOTE="${STEP_NOTE:-no tests collected}${why:+ ($why)}"
  fi
  return "$rc"
}

step_peaks() {
  local args=(--size 8192 --time-budget 3 --bandwidth-size 256MiB --bandwidth-size 1GiB)
  ((SMOKE)) && args=(--size 64 --time-budget 0.2 --bandwidth-size 1MiB)
  timed --stdout "$WORK/peaks.json" "${AB[@]}" peaks "${DEV_ARGS[@]}" --db "$DB" --json \
    --dtype bfloat16 --dtype float16 --dtype tfloat32 --dtype float32 "${args[@]}"
}

step_gemm() {
  timed "${AB[@]}" run "${SUITES}gemm.yaml" "${DEV_ARGS[@]}" --db "$DB"
}

step_energy() {
  local args=(--seconds 10 --warmup 3 --size 8192)
  ((SMOKE)) && args=(--seconds 0.5 --warmup 0.1 --size 64)
  local rc=0
  timed --stdout "$WORK/energy.txt" "$PY" benchmarks/energy_check.py "${DEV_ARGS[@]}" \
    --dtype bfloat16 --rate 20 --json "$WORK/energy.json" "${args[@]}" || rc=$?
  STEP_NOTE=$(head -n 1 "$WORK/energy.txt" | cut -c1-300)
  if ((rc == 77)); then
    STEP_STATUS=skipped # no meter with both a counter and a power reading (a CPU, an old GPU)
  fi
  return "$rc"
}

step_bandwidth() {
  # No power windows here: each of the 50 cases would be topped up to the meter's minimum
  # window (1 s with NVML), doubling the step for energy figures nobody asked of a copy.
  timed "${AB[@]}" run "${SUITES}bandwidth.yaml" "${DEV_ARGS[@]}" --db "$DB" --no-power
}

step_resnet56() {
  timed "${AB[@]}" run "${SUITES}resnet56.yaml" "${DEV_ARGS[@]}" --db "$DB" --data-dir "$DATA_DIR"
}

step_quick_ops() {
  # No power windows, as for bandwidth: 224 cases of milliseconds each.
  timed "${AB[@]}" run "$OPS_SUITE" "${DEV_ARGS[@]}" --db "$DB" --no-power
}

no_store() { # a final step with nothing to work on is skipped, not failed
  [ -e "$DB" ] && return 1
  STEP_STATUS=skipped
  STEP_NOTE="no results stored: nothing to $1"
}

step_report() {
  no_store report && return 0
  # The HTML has every figure inline; the files are for the README. Not in a smoke run: drawing
  # them twice is the slowest part of a tiny report.
  local figures=(--figures "$WORK/figures")
  ((SMOKE)) && figures=()
  timed "${AB[@]}" report --db "$DB" -o "$OUT/report.html" "${figures[@]}" \
    --title "accelbench device acceptance${DEVICE:+ ($DEVICE)}"
}

step_export() {
  no_store export && return 0
  timed "${AB[@]}" results export "$OUT/results.jsonl" --db "$DB"
}

step_bundle() {
  # The store rides along whole unless that would break the 16 MiB limit (the JSONL export
  # holds every result too).
  local items=() f
  for f in accelbench.db accelbench.db-wal figures peaks.json energy.json hw-junit.xml setup.txt; do
    [ -e "$WORK/$f" ] && items+=("$f")
  done
  ((${#items[@]})) || {
    STEP_STATUS=skipped
    STEP_NOTE="nothing to bundle"
    return 0
  }
  timed tar -czf "$OUT/bundle.tar.gz" -C "$WORK" "${items[@]}" || return
  if (($(stat -c %s "$OUT/bundle.tar.gz") > MAX_FILE_BYTES)); then
    local small=()
    for f in "${items[@]}"; do [[ $f == accelbench.db* ]] || small+=("$f"); done
    timed tar -czf "$OUT/bundle.tar.gz" -C "$WORK" "${small[@]}" || return
    STEP_NOTE="the store was left out (over 16 MiB compressed); results.jsonl holds every result"
  fi
}

# Files over the limit are compressed; what is still too large is removed, and said so.
fit_out() {
  local f size files=("$OUT"/*)
  # summary.txt is still to come.
  ((${#files[@]} + 1 <= MAX_FILES)) || say "fit: $((${#files[@]} + 1)) files, over $MAX_FILES"
  for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    size=$(stat -c %s "$f")
    ((size > MAX_FILE_BYTES)) || continue
    if [[ $f != *.gz ]] && gzip -9 "$f" && (($(stat -c %s "$f.gz") <= MAX_FILE_BYTES)); then
      say "fit: $(basename "$f") was $((size / MIB)) MiB: compressed to $(basename "$f").gz"
    else
      rm -f "$f" "$f.gz"
      say "fit: $(basename "$f") removed: over 16 MiB even compressed"
    fi
  done
}

on_signal() {
  ABORTED=1
  [ -z "$CHILD" ] || kill -INT "$CHILD" 2>/dev/null
  log "==== [$(elapsed) s] interrupted: skipping the remaining steps, keeping what is stored"
}
trap on_signal INT TERM

# -- the run ------------------------------------------------------------------------------------
{
  echo "accelbench device acceptance: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  echo "checkout $ROOT ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no git'))"
  echo "device ${DEVICE:-default}, smoke $SMOKE, budget $BUDGET_S s, python $PY, data $DATA_DIR"
  echo "output $OUT, scratch $WORK"
} >>"$LOG"
say "accelbench device acceptance: device ${DEVICE:-default}, budget $BUDGET_S s$( ((SMOKE)) && echo ', smoke'), output $OUT"

run_step setup 60 step_setup
run_step devices 60 step_devices
run_step idle-power 45 step_idle_power
run_step hw-tests 60 step_hw_tests
run_step peaks 75 step_peaks
run_step gemm 60 step_gemm
run_step energy 45 step_energy
run_step bandwidth 60 step_bandwidth
run_step resnet56 200 step_resnet56
run_step quick-ops 120 step_quick_ops
run_step report 45 step_report final
run_step export 30 step_export final
run_step bundle 30 step_bundle final
fit_out

log ""
log "==== [$(elapsed) s] summary"
if "$PY" benchmarks/acceptance_summary.py --out "$OUT" --work "$WORK" --smoke "$SMOKE" \
  --device "${DEVICE:-default}" \
  --budget "$BUDGET_S" --wall "$(elapsed)" >"$WORK/summary.txt" 2>>"$LOG"; then
  cp "$WORK/summary.txt" "$OUT/summary.txt"
else
  { echo "summary helper failed (see acceptance.log); the steps:"; cat "$STEPS"; } >"$OUT/summary.txt"
  FAILED=$((FAILED + 1))
fi
cat "$OUT/summary.txt" >>"$LOG"
rm -rf "$WORK"
echo
cat "$OUT/summary.txt"
((ABORTED)) && exit 130
((FAILED == 0)) || exit 1
exit 0
