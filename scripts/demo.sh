#!/usr/bin/env bash
# The example import on the embedded default: SQLite in ./demo, jobs in-process, VIES off (no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
rm -rf demo && mkdir -p demo   # each demo starts from an empty registry, and leaves ./rostersync.db alone
export ROSTERSYNC_DATABASE_URL="sqlite:///demo/rostersync.db" ROSTERSYNC_VIES_ENABLED=false
set +e
uv run --frozen rostersync import examples/customers.csv --company demo-company --kind customers
code=$?
set -e
[ "$code" -le 1 ] || exit "$code"   # 1 = the run finished with failed rows, which the example has on purpose
run_id=$(uv run --frozen rostersync runs --company demo-company --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run_id"])')
uv run --frozen rostersync report "$run_id" --failed-only -o demo/failed-rows.csv
uv run --frozen rostersync customers list --company demo-company --limit 10
cat <<TEXT

The failed rows and why: demo/failed-rows.csv. The CLI runs as \`uv run rostersync\` (or activate .venv);
the demo's registry is demo/rostersync.db, so point the CLI there first. Each line works as pasted:

  export ROSTERSYNC_DATABASE_URL=sqlite:///demo/rostersync.db ROSTERSYNC_VIES_ENABLED=false
  uv run rostersync runs
  uv run rostersync status ${run_id:0:8}
  uv run rostersync reimport ${run_id:0:8} --failed-only --file demo/failed-rows.csv   # after fixing the file
TEXT
