#!/usr/bin/env bash
# Runs .ci/run N times in a row (default 3) while scripts/burn-cpu.mjs keeps every core busy, and
# prints each run's totals line, exit status and wall time. With --clone, each run is in a fresh
# clone of HEAD (as CI on a clean clone), otherwise in this checkout.
# Usage: scripts/ci-under-load.sh [--clone] [runs]
# Exit status 0 only when every run was green. Logs: ci-under-load-<n>.log in this checkout.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
clone=false
if [ "${1:-}" = "--clone" ]; then clone=true; shift; fi
runs="${1:-3}"
# Every core, at most 40 minutes per run: a run that takes longer has failed CI's 20-minute bound anyway.
burn_seconds=2400

burner=""
# A Ctrl-C of this script must not leave the burner running until its bound.
trap '[ -n "$burner" ] && kill "$burner" 2>/dev/null' EXIT

green=0
for n in $(seq 1 "$runs"); do
  dir="$repo"
  if $clone; then
    dir="$(mktemp -d "${TMPDIR:-/tmp}/flotilla-ci-XXXXXX")"
    # mktemp makes the folder 0700: the embedded PostgreSQL, which runs as the postgres user when
    # we are root, could not reach its binaries in the clone's node_modules.
    chmod 755 "$dir"
    git clone --quiet "$repo" "$dir" || exit 1
  fi
  log="$repo/ci-under-load-$n.log"
  # Plain JavaScript: any Node from 18 on runs it, the system's too.
  node "$repo/scripts/burn-cpu.mjs" --seconds "$burn_seconds" 2>/dev/null &
  burner=$!
  start=$(date +%s)
  (cd "$dir" && .ci/run) >"$log" 2>&1
  status=$?
  seconds=$(($(date +%s) - start))
  kill "$burner" 2>/dev/null
  wait "$burner" 2>/dev/null
  burner=""
  totals="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)"
  printf 'run %d: %s; exit %d; %dm%02ds (log: %s)\n' "$n" "${totals:-no totals line}" "$status" $((seconds / 60)) $((seconds % 60)) "$log"
  [ "$status" -eq 0 ] && green=$((green + 1))
  if $clone; then rm -rf "$dir"; fi
done
echo "$green of $runs runs green under load"
[ "$green" -eq "$runs" ]
