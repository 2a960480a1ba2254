#!/usr/bin/env bash
# Catalog writes per second from N processes at once, on PostgreSQL and on SQLite.
# Each write is one epoch row (`recordEpoch`: one transaction). The PostgreSQL server is started
# here, in a temporary directory on a Unix socket (as the `postgres` user when run as root), and
# stopped afterwards. Usage: benchmarks/catalog-writers.sh [ROWS_PER_WRITER] [WRITER_COUNTS...]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-500}
shift || true
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 2 4 8 16)

swift build -c release --product graft-catalog-stress >/dev/null
stress=.build/release/graft-catalog-stress
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

dir=$(mktemp -d /tmp/graft-catalog-writers.XXXXXX)
chmod 755 "$dir"
as_server() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
stop() {
  as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
as_server "$bin/initdb" -D "$dir/data" -A trust -U postgres --locale=C -E UTF8 >/dev/null
as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-k $dir -p 5432 -c listen_addresses='' -c max_connections=100" start >/dev/null </dev/null
url() { echo "postgresql://postgres@/$1?host=$dir&port=5432"; }

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; $(date -u +%F)"
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') (fsync on, default settings); SQLite in WAL mode"
echo "$rows epoch rows per writer"
printf '%-10s %8s %10s %12s %12s\n' backend writers rows seconds writes/s
for backend in postgresql sqlite; do
  for n in "${counts[@]}"; do
    if [ "$backend" = postgresql ]; then
      db=bench_${n}
      psql -q "$(url postgres)" -c "CREATE DATABASE $db" >/dev/null
      location=$(url "$db")
      # Create the schema first, so only writes are timed.
      "$stress" --catalog "$location" --rows 0 --tag schema >/dev/null
    else
      location=$dir/sqlite-$n/catalog.sqlite
      "$stress" --catalog "$location" --rows 0 --tag schema >/dev/null
    fi
    start=$(date +%s.%N)
    pids=()
    for i in $(seq 1 "$n"); do "$stress" --catalog "$location" --rows "$rows" --tag "w$i" >/dev/null & pids+=($!); done
    for p in "${pids[@]}"; do wait "$p"; done
    end=$(date +%s.%N)
    awk -v b=$backend -v n=$n -v r=$rows -v s=$start -v e=$end \
      'BEGIN { t = e - s; printf "%-10s %8d %10d %12.2f %12.0f\n", b, n, n * r, t, n * r / t }'
    if [ "$backend" = postgresql ]; then
      last_location=$location
      last_rows=$((n * rows))
    fi
  done
done
# Storage per epoch row (table, its indexes and TOAST), from the largest PostgreSQL run.
bytes=$(psql -qtA "$last_location" -c "SELECT pg_total_relation_size('epoch_metric')")
echo "PostgreSQL storage: $((bytes / last_rows)) bytes per epoch row ($bytes bytes for $last_rows rows)"
