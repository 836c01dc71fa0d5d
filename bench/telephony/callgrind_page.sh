#!/usr/bin/env bash
# callgrind instructions a kept statistics page (see profile_page.py --callgrind):
#   bench/telephony/callgrind_page.sh [DB]   (default bench/out/telephony-1M.sqlite3)
# Two runs with 2,000 warm-up pages (every portal's page kept), then 1,000 and 3,000 pages;
# the difference of the totals / 2,000 is a page's instructions.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${TRUNKLINE_VENV:-$root/.venv}/bin/python"
db="${1:-$root/bench/out/telephony-1M.sqlite3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
totals=()
for pages in 1000 3000; do
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
        "$python" "$root/bench/telephony/profile_page.py" "$db" --callgrind 2000 "$pages" \
        >"$work/log" 2>&1 || { tail -n 20 "$work/log" >&2; exit 1; }
    totals+=("$(awk '/^(summary|totals):/ {print $2; exit}' "$work/cg.out")")
done
echo "instructions: ${totals[0]} (1000 pages) ${totals[1]} (3000 pages)" \
    "-> $(( (totals[1] - totals[0]) / 2000 )) a page"
