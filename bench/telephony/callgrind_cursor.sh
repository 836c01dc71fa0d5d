#!/usr/bin/env bash
# callgrind instructions a statement run through Connection.execute (a new cursor each) and
# through one kept cursor (storage/driver.py): SAVEPOINT, an INSERT of 3 values, a SELECT of
# one row and RELEASE, 1,000 and 3,000 times; the difference of the totals / 8,000.
#   bench/telephony/callgrind_cursor.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${TRUNKLINE_VENV:-$root/.venv}/bin/python"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/statements.py" <<'PY'
import sqlite3
import sys

mode, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(":memory:", isolation_level=None)
db.execute("CREATE TABLE t (a, b, c)")
run = db.execute if mode == "connection" else db.cursor().execute
db.execute("BEGIN")
for i in range(n):
    run("SAVEPOINT writer", ())
    run("INSERT INTO t VALUES (?, ?, ?)", (i, None, "x"))
    run("SELECT a, b, c FROM t WHERE rowid = ?", (i + 1,)).fetchone()
    run("RELEASE writer", ())
db.execute("COMMIT")
PY
for mode in connection cursor; do
    totals=()
    for n in 1000 3000; do
        valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
            "$python" "$work/statements.py" "$mode" "$n" >"$work/log" 2>&1
        totals+=("$(awk '/^(summary|totals):/ {print $2; exit}' "$work/cg.out")")
    done
    echo "$mode: $(( (totals[1] - totals[0]) / 8000 )) instructions a statement"
done
