#!/usr/bin/env bash
# callgrind instructions a register + finish pair (see callgrind_pair.py):
#   bench/telephony/callgrind_pair.sh [DB]   (default bench/out/telephony-10k.sqlite3)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${TRUNKLINE_VENV:-$root/.venv}/bin/python"
db="${1:-$root/bench/out/telephony-10k.sqlite3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
totals=()
for pairs in 160 480; do
    cp "$db" "$work/t.sqlite3"
    cp "$db.json" "$work/t.sqlite3.json"
    rm -f "$work/t.sqlite3-wal" "$work/t.sqlite3-shm"
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
        "$python" "$root/bench/telephony/callgrind_pair.py" "$work/t.sqlite3" 320 "$pairs" \
        >"$work/log" 2>&1 || { tail -n 20 "$work/log" >&2; exit 1; }
    totals+=("$(awk '/^(summary|totals):/ {print $2; exit}' "$work/cg.out")")
done
echo "instructions: ${totals[0]} (160 pairs) ${totals[1]} (480 pairs)" \
    "-> $(( (totals[1] - totals[0]) / 320 )) a pair"
