#!/usr/bin/env bash
# Starts the service in release mode on PostgreSQL (production settings: JSON logs, every
# feature on) and measures it with the bench harness, side by side with the peers of the
# original comparison that are set up in $PEERS_DIR (see ../shared/peers/README.md: run its
# setup.sh once). Targets are measured interleaved, round by round; results go to
# target/bench/<timestamp>/ (summary.md gathers every table).
#
#   bench/run.sh                          this service + the peers found (bare, bare_schema, fastapi, fastify)
#   PEERS= bench/run.sh                   this service only
#   MODES="get lifecycle" CONCS=32,64 DURATION=12 ROUNDS=4 bench/run.sh
#   MODES=expand bench/run.sh             pages of 100 items with and without expand=category
#   LIST_SCALE=1 bench/run.sh             also every list shape, 1k against 1M rows side by side (a second
#                                         instance on a second database of 1M rows)
#   LIST_SCALE=1 TRGM=1 bench/run.sh      and substring lists at 1M rows with and without pg_trgm
#                                         indexes, and the lifecycle with them
#   THROTTLE=1 bench/run.sh               also GET with throttling on, Redis store against memory store
#   STARTUP=1 bench/run.sh                also time start-to-ready on SQLite
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PEERS_DIR=${PEERS_DIR:-$ROOT/../shared/peers}
PEERS=${PEERS-"bare bare_schema fastapi fastify"}
MODES=${MODES:-"get list lifecycle expand"}
CONCS=${CONCS:-32,64}
DURATION=${DURATION:-12}
ROUNDS=${ROUNDS:-4}
OUT=${OUT:-$ROOT/target/bench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
say() { printf -- '--- %s\n' "$*" >&2; }

# --- PostgreSQL: a role and a fresh database for the service --------------------------
pg_isready -q -h 127.0.0.1 || pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 && break; sleep 0.2; done
(cd / && su postgres -c "psql -X -q -v ON_ERROR_STOP=1" >/dev/null) <<'SQL'
SET client_min_messages = warning;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench') THEN
    CREATE ROLE bench LOGIN CREATEDB PASSWORD 'bench';
  END IF;
END $$;
DROP DATABASE IF EXISTS items_bench WITH (FORCE);
CREATE DATABASE items_bench OWNER bench;
SQL
DATABASE_URL=postgres://bench:bench@127.0.0.1:5432/items_bench

say "building the service, its migrations and the harness (release)"
cargo build -q --release -p api -p migration -p bench
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
BENCH=$BIN/bench
"$BIN/migration" -u "$DATABASE_URL" up >/dev/null

PIDS=()
PEER_PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do pkill -TERM -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_for() { for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

# Production settings; the pool gets the 20 working connections the bare peer is given
# (POOL_SIZE=20 below), plus the one the service keeps for health checks and housekeeping.
APP_ENV=production APP__SERVER__PORT=8000 APP__DATABASE__MAX_CONNECTIONS=21 DATABASE_URL=$DATABASE_URL \
    "$BIN/api" > "$OUT/api.log" 2>&1 &
API_PID=$!
PIDS+=("$API_PID")
wait_for http://127.0.0.1:8000/health/ready
# (another server already on the port would answer instead: stop there)
kill -0 "$API_PID" 2>/dev/null || { echo "the service did not start: see $OUT/api.log" >&2; exit 1; }

# --- the peers, each on its own database, reset --------------------------------------
export PGHOST=127.0.0.1 PGPORT=5432 PGUSER=testuser PGPASSWORD=testpass PGOPTIONS='--client-min-messages=warning'
reset() { psql -q -X -v ON_ERROR_STOP=1 -d "$1" -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' "${@:2}"; }
# bench/bare-schema.sql must keep the indexes and the foreign key the migrations give `items`.
schema_drift() {
    local q="SELECT string_agg(regexp_replace(indexdef, ' ON public\\.| ON ', ' ON '), E'\\n' ORDER BY indexname)
             FROM pg_indexes WHERE tablename = 'items' AND indexname <> 'items_pkey'
             UNION ALL SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), E'\\n' ORDER BY conname)
             FROM pg_constraint WHERE conrelid = 'items'::regclass AND contype = 'f'"
    local ours theirs
    ours=$(PGUSER=bench PGPASSWORD=bench psql -X -tA -d items_bench -c "$q")
    theirs=$(psql -X -tA -d testdb_bare_schema -c "$q")
    [ "$ours" = "$theirs" ] || say "WARNING: bench/bare-schema.sql's indexes or foreign key differ from the migrations': $(diff <(echo "$ours") <(echo "$theirs") | grep '^[<>]' | xargs)"
}
start_peer() {  # start_peer NAME PORT: started and answering, or not set up
    local name=$1 port=$2 pid
    case $name in
        bare)
            [ -x "$PEERS_DIR/rust/target/release/bare" ] || return 1
            reset testdb_bare -f "$PEERS_DIR/schema.sql" || return 1
            (cd "$PEERS_DIR/rust/bare" && exec env PORT=$port WORKERS=2 POOL_SIZE=20 \
                DATABASE_URL=postgres://testuser:testpass@127.0.0.1:5432/testdb_bare ../target/release/bare) \
                > "$OUT/$name.log" 2>&1 & pid=$! ;;
        bare_schema)  # the same server on a database laid out like this service's
            [ -x "$PEERS_DIR/rust/target/release/bare" ] || return 1
            psql -X -tA -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'testdb_bare_schema'" | grep -q 1 \
                || psql -q -X -d postgres -c 'CREATE DATABASE testdb_bare_schema' || return 1
            reset testdb_bare_schema -f "$ROOT/bench/bare-schema.sql" || return 1
            schema_drift
            (cd "$PEERS_DIR/rust/bare" && exec env PORT=$port WORKERS=2 POOL_SIZE=20 \
                DATABASE_URL=postgres://testuser:testpass@127.0.0.1:5432/testdb_bare_schema ../target/release/bare) \
                > "$OUT/$name.log" 2>&1 & pid=$! ;;
        fastapi)
            [ -x "$PEERS_DIR/.venv/bin/uvicorn" ] || return 1
            reset testdb_fastapi || return 1
            (cd "$PEERS_DIR/python/fastapi_app" && ../../.venv/bin/python -c 'import main' \
                && exec ../../.venv/bin/uvicorn main:app --host 127.0.0.1 --port "$port" --workers 2) \
                > "$OUT/$name.log" 2>&1 & pid=$! ;;
        fastify)
            [ -d "$PEERS_DIR/node/fastify_app/node_modules" ] || return 1
            reset testdb_fastify -f "$PEERS_DIR/schema.sql" || return 1
            (cd "$PEERS_DIR/node/fastify_app" && exec env PORT=$port WORKERS=2 POOL_SIZE=20 node server.js) \
                > "$OUT/$name.log" 2>&1 & pid=$! ;;
        *) return 1 ;;
    esac
    PIDS+=("$pid")
    PEER_PIDS+=("$pid")
    wait_for "http://127.0.0.1:$port/items/" || return 1
    TARGETS+=(-t "$name=http://127.0.0.1:$port")
    SERVER_PIDS+=(--server-pid "$name=$pid")
}
stop_peers() {
    [ ${#PEER_PIDS[@]} -gt 0 ] || return 0  # (a bare `wait` would wait for the service too)
    for pid in "${PEER_PIDS[@]}"; do pkill -TERM -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
    wait "${PEER_PIDS[@]}" 2>/dev/null || true
    PEER_PIDS=()
}
# Every mode starts on vacuumed tables: a previous mode's creates and deletes leave dead rows
# that lists and counts would otherwise wade through (in whichever target ran the writes).
vacuum() {
    PGUSER=bench PGPASSWORD=bench psql -q -X -d items_bench -c 'VACUUM (ANALYZE) items' || true
    for db in testdb_bare testdb_bare_schema testdb_fastify testdb_fastapi; do
        psql -q -X -d "$db" -c 'VACUUM (ANALYZE) items' 2>/dev/null || true
    done
}

SUMMARY=$OUT/summary.md
{
    echo "# Benchmark $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), shared by the servers," \
        "PostgreSQL $(PGUSER=bench PGPASSWORD=bench psql -X -tA -d items_bench -c 'SHOW server_version' 2>/dev/null | cut -d' ' -f1) and the load generator."
    echo "Settings: MODES=\"$MODES\" CONCS=$CONCS DURATION=$DURATION s per target and level, ROUNDS=$ROUNDS interleaved."
    echo "The service runs with production settings (JSON request logs, metrics, every feature on)."
} > "$SUMMARY"

# --- the comparison, in groups whose connection pools fit PostgreSQL's max_connections
# together (FastAPI alone may open 2 x 50): every mode and concurrency, targets interleaved.
port=8101
GROUPS_=("bare bare_schema fastify" "fastapi")
for group in "${GROUPS_[@]}"; do
    TARGETS=(-t "api=http://127.0.0.1:8000")
    SERVER_PIDS=(--server-pid "api=$API_PID")
    PEER_PIDS=()
    for peer in $group; do
        case " $PEERS " in *" $peer "*) ;; *) continue ;; esac
        if start_peer "$peer" "$port"; then say "peer $peer on :$port"; else say "peer $peer not set up in $PEERS_DIR: skipped"; fi
        port=$((port + 1))
    done
    # A group none of whose peers runs is skipped, unless no peers were asked for at all.
    if [ ${#TARGETS[@]} -eq 2 ] && [ -n "$PEERS" ]; then continue; fi
    if [ ${#TARGETS[@]} -eq 2 ] && [ "$group" != "${GROUPS_[0]}" ]; then continue; fi
    for mode in $MODES; do
        [ "$mode" = expand ] && continue  # this service only: below
        say "$mode at c=$CONCS: ${TARGETS[*]}"
        extra=()
        [ "$mode" = list ] && extra=(--seed 100)
        vacuum
        name=$mode-$(echo "$group" | tr ' ' '-')
        "$BENCH" "$mode" "${TARGETS[@]}" "${SERVER_PIDS[@]}" -c "$CONCS" --duration "$DURATION" --rounds "$ROUNDS" \
            "${extra[@]}" -q --out "$OUT/$name" > "$OUT/$name.md"
        { echo; echo "## $mode ($(echo "${TARGETS[*]}" | grep -o '[a-z_]*=' | tr -d '=' | xargs | tr ' ' ','))"; echo; cat "$OUT/$name.md"; } >> "$SUMMARY"
    done
    stop_peers
done

# --- throttling on: the Redis store against the memory store (this service) ------------
# Two more instances on the same database, throttling on with a rate no client reaches, one
# keeping the counts in memory, one in Redis (a local redis-server); GET measured interleaved.
if [ "${THROTTLE:-0}" = 1 ]; then
    redis-cli ping >/dev/null 2>&1 || redis-server --daemonize yes --save '' >/dev/null
    for _ in $(seq 50); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.1; done
    THROTTLE_PIDS=()
    for store in memory redis; do
        port=$([ "$store" = memory ] && echo 8011 || echo 8012)
        APP_ENV=production APP__SERVER__PORT=$port APP__DATABASE__MAX_CONNECTIONS=21 DATABASE_URL=$DATABASE_URL \
            APP__THROTTLE__ENABLED=true APP__THROTTLE__ANON=100000000/second APP__THROTTLE__STORE=$store \
            APP__THROTTLE__REDIS_URL=redis://127.0.0.1:6379 "$BIN/api" > "$OUT/api-throttle-$store.log" 2>&1 &
        PIDS+=("$!")
        THROTTLE_PIDS+=(--server-pid "$store=$!")
        wait_for "http://127.0.0.1:$port/health/ready"
        kill -0 "${PIDS[-1]}" 2>/dev/null || { echo "the $store instance did not start" >&2; exit 1; }
    done
    say "get with throttling on: memory store against Redis store, c=$CONCS"
    vacuum
    "$BENCH" get -t memory=http://127.0.0.1:8011 -t redis=http://127.0.0.1:8012 "${THROTTLE_PIDS[@]}" -c "$CONCS" \
        --duration "$DURATION" --rounds "$ROUNDS" -q --out "$OUT/throttle" > "$OUT/throttle.md"
    { echo; echo "## get with throttling on: memory store against Redis store (api only)"; echo; cat "$OUT/throttle.md"; } >> "$SUMMARY"
    for pid in "${PIDS[@]: -2}"; do kill "$pid" 2>/dev/null || true; done
fi

# --- expand: pages of 100 items with their categories, against the plain page -----------
# 1,000 items over 20 categories; the two lists alternate, ROUNDS times each, at c=32.
if [[ " $MODES " == *" expand "* ]]; then
    say "expand=category against the plain list, pages of 100, interleaved"
    PGUSER=bench PGPASSWORD=bench psql -q -X -d items_bench -v ON_ERROR_STOP=1 <<'SQL'
TRUNCATE items RESTART IDENTITY;
DELETE FROM categories;
INSERT INTO categories (name, description, created_at, updated_at, version)
SELECT 'category ' || n, 'generated category ' || n, now(), now(), 1 FROM generate_series(1, 20) AS n;
INSERT INTO items (name, description, price, in_stock, category_id, created_at, updated_at, version)
SELECT 'item ' || n, 'generated row ' || n, (n % 1000) + 0.99, n % 3 <> 0,
       (SELECT min(id) FROM categories) + n % 20, now(), now(), 1
FROM generate_series(1, 1000) AS n;
VACUUM ANALYZE items;
VACUUM ANALYZE categories;
SQL
    declare -A EXPAND_RATES
    for round in $(seq "$ROUNDS"); do
        for variant in plain expand; do
            query='?page_size=100'
            [ "$variant" = expand ] && query='?page_size=100&expand=category'
            "$BENCH" list -t "$variant=http://127.0.0.1:8000" -c 32 --duration "$DURATION" --seed 0 --list-query "$query" -q \
                --out "$OUT/expand-$variant-$round" > "$OUT/expand-$variant-$round.md"
            EXPAND_RATES[$variant]+="$(grep -E "^\| $variant \|" "$OUT/expand-$variant-$round.md" | head -1 | awk -F'|' '{gsub(/ /, "", $5); print $5}') "
        done
    done
    python3 - "${EXPAND_RATES[plain]}" "${EXPAND_RATES[expand]}" >> "$SUMMARY" <<'PY'
import statistics, sys
plain, expand = ([float(x) for x in arg.split()] for arg in sys.argv[1:3])
p, e = statistics.median(plain), statistics.median(expand)
print("\n## list with expand=category (api only, pages of 100 items over 20 categories, c=32, req/s)\n")
print("| list | median req/s | rounds | expand / plain |")
print("|---|---:|---|---:|")
print(f"| `?page_size=100` | {p:.0f} | {' '.join(f'{x:.0f}' for x in plain)} | |")
print(f"| `?page_size=100&expand=category` | {e:.0f} | {' '.join(f'{x:.0f}' for x in expand)} | {e / p:.2f} |")
PY
fi

# --- every list shape at 1k and 1M rows (this service) -------------------------------
# Two instances of the service, one on a database of 1k rows and one on a database of 1M,
# measured interleaved round by round for each shape, so that the ratio does not carry the
# machine's drift between two phases. A shape the service refuses (a 400 naming the
# parameter, e.g. an offset deeper than pagination.max_offset) is listed as refused.
if [ "${LIST_SCALE:-0}" = 1 ]; then
    psql_as_bench() { PGUSER=bench PGPASSWORD=bench psql -q -X -v ON_ERROR_STOP=1 -d "$@"; }
    rows() {  # rows DB N: the items table of DB holds exactly N rows (a tenth without a category), analysed
        psql_as_bench "$1" <<SQL
TRUNCATE items RESTART IDENTITY;
DELETE FROM categories;
INSERT INTO categories (name, description, created_at, updated_at, version)
SELECT 'category ' || n, '', now(), now(), 1 FROM generate_series(1, 20) AS n;
INSERT INTO items (name, description, price, in_stock, category_id, created_at, updated_at, version)
SELECT 'item ' || n, 'generated row ' || n, (n % 1000) + 0.99, n % 3 <> 0,
       CASE WHEN n % 10 = 0 THEN NULL ELSE (SELECT min(id) FROM categories) + n % 20 END,
       now() - make_interval(secs => $2 - n), now() - make_interval(secs => $2 - n), 1
FROM generate_series(1, $2) AS n;
VACUUM ANALYZE items;
VACUUM ANALYZE categories;
SQL
    }
    next_cursor() {  # next_cursor PORT QUERY: the cursor of page 2 of that cursor listing
        # (a refused listing has no cursor: the shape is then reported refused)
        curl -sf "http://127.0.0.1:$1/items/$2" | python3 -c 'import json,sys,urllib.parse as u; print(u.parse_qs(u.urlsplit(json.load(sys.stdin)["next"]).query)["cursor"][0])' 2>/dev/null || true
    }
    SHAPES=(
        "default page|?page_size=50"
        "page 2|?page_size=50&page=2"
        "count=exact|?page_size=50&count=exact"
        "count=estimated|?page_size=50&count=estimated"
        "cursor, page 2|?page_size=50&cursor=@"
    )
    for field in id name price created_at updated_at -price -created_at; do
        SHAPES+=("ordering=$field|?page_size=50&ordering=$field"
                 "ordering=$field, page 2|?page_size=50&ordering=$field&page=2"
                 "ordering=$field, cursor page 2|?page_size=50&ordering=$field&cursor=@")
    done
    SHAPES+=(
        "offset=999000|?limit=50&offset=999000"
        "offset=5000 (max_offset)|?limit=50&offset=5000"
        "page=20000|?page_size=50&page=20000"
        "price__gte=500&price__lt=510|?page_size=50&price__gte=500&price__lt=510"
        "price range, ordering=-price|?page_size=50&price__gte=500&price__lt=510&ordering=-price"
        "name=item 500|?page_size=50&name=item%20500"
        "id__in=1,500,999|?page_size=50&id__in=1,500,999"
        "created_at__gte=<last 100>|?page_size=50&created_at__gte=@recent"
        "in_stock=false|?page_size=50&in_stock=false"
        "name__istartswith=item 99|?page_size=50&name__istartswith=item%2099"
        "name__icontains=m 5|?page_size=50&name__icontains=m%205"
        "search=row 77|?page_size=50&search=row%2077"
        "expand=category|?page_size=50&expand=category"
        "category=<one of 20>|?page_size=50&category=@category"
        "category__isnull=true|?page_size=50&category__isnull=true"
        "category__name=category 7|?page_size=50&category__name=category%207"
        "category__name__icontains=ry 7|?page_size=50&category__name__icontains=ry%207"
        "ordering=category__name|?page_size=50&ordering=category__name"
        "ordering=category__name, cursor page 2|?page_size=50&ordering=category__name&cursor=@"
        "nested /categories/<id>/items/|@nested?page_size=50"
    )
    say "every list shape with 1k and with 1M rows, side by side"
    (cd / && env -u PGHOST -u PGPORT -u PGUSER -u PGPASSWORD su postgres -c "psql -X -q -v ON_ERROR_STOP=1" <<'SQL')
SET client_min_messages = warning;
DROP DATABASE IF EXISTS items_bench_1m WITH (FORCE);
CREATE DATABASE items_bench_1m OWNER bench;
SQL
    LARGE_URL=postgres://bench:bench@127.0.0.1:5432/items_bench_1m
    "$BIN/migration" -u "$LARGE_URL" up >/dev/null
    rows items_bench 1000
    rows items_bench_1m 1000000
    APP_ENV=production APP__SERVER__PORT=8001 APP__DATABASE__MAX_CONNECTIONS=21 DATABASE_URL=$LARGE_URL \
        "$BIN/api" > "$OUT/api-1m.log" 2>&1 &
    PIDS+=("$!")
    wait_for http://127.0.0.1:8001/health/ready
    declare -A RATE RECENT CATEGORY PORT=([1k]=8000 [1M]=8001) DB=([1k]=items_bench [1M]=items_bench_1m)
    for size in 1k 1M; do  # the values shapes fill in, per database
        RECENT[$size]=$(psql_as_bench "${DB[$size]}" -tA -c \
            "SELECT to_char((max(created_at) - interval '100 seconds') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM items")
        CATEGORY[$size]=$(psql_as_bench "${DB[$size]}" -tA -c "SELECT min(id) + 7 FROM categories")
    done
    for shape in "${SHAPES[@]}"; do
        label=${shape%%|*}
        args=()
        for size in 1k 1M; do
            query=${shape#*|}
            query=${query//@recent/${RECENT[$size]}}
            query=${query//@category/${CATEGORY[$size]}}
            prefix=
            if [[ $query == @nested* ]]; then prefix=/categories/${CATEGORY[$size]}; query=${query#@nested}; fi
            if [[ $query == *"cursor=@"* ]]; then
                base=${query/&cursor=@/}
                query="$base&cursor=$(next_cursor "${PORT[$size]}" "$base&cursor=")"
            fi
            status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$size]}$prefix/items/$query")
            if [ "$status" != 200 ]; then
                RATE["$label/$size"]="$status (refused)"
                continue
            fi
            args+=(-t "$size=http://127.0.0.1:${PORT[$size]}$prefix" --list-query "$size=$query")
        done
        [ ${#args[@]} -gt 0 ] || continue
        "$BENCH" list "${args[@]}" -c 16 --duration "${LIST_DURATION:-6}" --rounds 3 --seed 0 -q \
            --out "$OUT/list" > "$OUT/list.md"
        for size in 1k 1M; do
            [ -n "${RATE["$label/$size"]:-}" ] && continue
            RATE["$label/$size"]=$(grep -E "^\| $size \|" "$OUT/list.md" | head -1 | awk -F'|' '{gsub(/ /, "", $5); print $5}')
        done
    done
    {
        echo
        echo "## every list shape at 1k and 1M rows (two instances of the service, interleaved in 3 rounds, c=16, req/s; a status instead of a rate: refused)"
        echo
        echo "| shape | 1k rows | 1M rows | 1M / 1k |"
        echo "|---|---:|---:|---:|"
        for shape in "${SHAPES[@]}"; do
            label=${shape%%|*}
            small=${RATE["$label/1k"]}
            large=${RATE["$label/1M"]}
            ratio=$(python3 -c "import sys
try: print(f'{float(sys.argv[2]) / float(sys.argv[1]):.2f}')
except Exception: print('-')" "$small" "$large")
            echo "| \`$label\` | $small | $large | $ratio |"
        done
    } >> "$SUMMARY"

    # pg_trgm GIN indexes on lower(name) and lower(description): substring lists at 1M rows
    # without and with them (a copy of the 1M database), and what they cost the lifecycle
    # (an empty database with them against the service's own), each pair interleaved.
    if [ "${TRGM:-0}" = 1 ]; then
        say "substring lists at 1M rows with and without pg_trgm, and the lifecycle with them"
        trgm_indexes="CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX idx_items_name_trgm ON items USING gin (lower(name) gin_trgm_ops);
CREATE INDEX idx_items_description_trgm ON items USING gin (lower(description) gin_trgm_ops);
ANALYZE items;"
        (cd / && env -u PGHOST -u PGPORT -u PGUSER -u PGPASSWORD su postgres -c "psql -X -q -v ON_ERROR_STOP=1" >/dev/null <<'SQL')
SET client_min_messages = warning;
DROP DATABASE IF EXISTS items_bench_1m_trgm WITH (FORCE);
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'items_bench_1m';
CREATE DATABASE items_bench_1m_trgm TEMPLATE items_bench_1m OWNER bench;
DROP DATABASE IF EXISTS items_bench_trgm WITH (FORCE);
CREATE DATABASE items_bench_trgm OWNER bench;
SQL
        "$BIN/migration" -u postgres://bench:bench@127.0.0.1:5432/items_bench_trgm up >/dev/null
        psql_as_bench items_bench_1m_trgm -c "$trgm_indexes"
        psql_as_bench items_bench_trgm -c "$trgm_indexes"
        for db_port in items_bench_1m_trgm:8002 items_bench_trgm:8003; do
            APP_ENV=production APP__SERVER__PORT=${db_port#*:} APP__DATABASE__MAX_CONNECTIONS=21 \
                DATABASE_URL=postgres://bench:bench@127.0.0.1:5432/${db_port%:*} \
                "$BIN/api" > "$OUT/api-${db_port%:*}.log" 2>&1 &
            PIDS+=("$!")
            wait_for "http://127.0.0.1:${db_port#*:}/health/ready"
        done
        {
            echo
            echo "## substring lists at 1M rows without and with pg_trgm GIN indexes (c=16, 3 interleaved rounds, req/s)"
            echo
            echo "| list | without | with pg_trgm | with / without |"
            echo "|---|---:|---:|---:|"
        } >> "$SUMMARY"
        for query in "name__icontains=nomatch" "search=nomatch" "name__icontains=item%2099999" \
            "search=row%20777777" "name__icontains=m%205" "search=row%2077" "name__istartswith=item%2099"; do
            "$BENCH" list -t without=http://127.0.0.1:8001 -t with=http://127.0.0.1:8002 \
                --list-query "?page_size=50&$query" -c 16 --duration "${LIST_DURATION:-6}" --rounds 3 \
                --seed 0 --timeout 30 -q --out "$OUT/trgm" > "$OUT/trgm.md"
            without=$(grep -E "^\| without \|" "$OUT/trgm.md" | head -1 | awk -F'|' '{gsub(/ /, "", $5); print $5}')
            with=$(grep -E "^\| with \|" "$OUT/trgm.md" | head -1 | awk -F'|' '{gsub(/ /, "", $5); print $5}')
            echo "| \`$query\` | $without | $with | $(python3 -c "import sys; print(f'{float(sys.argv[2]) / float(sys.argv[1]):.2f}')" "$without" "$with") |" >> "$SUMMARY"
        done
        "$BENCH" lifecycle -t without=http://127.0.0.1:8000 -t with=http://127.0.0.1:8003 -c "$CONCS" \
            --duration "$DURATION" --rounds "$ROUNDS" -q --out "$OUT/trgm-lifecycle" > "$OUT/trgm-lifecycle.md"
        {
            echo
            echo "## lifecycle without and with the pg_trgm indexes (empty tables, interleaved)"
            echo
            sed -n '/^| target | load | req\/s ratio/,/^$/p' "$OUT/trgm-lifecycle.md"
        } >> "$SUMMARY"
    fi
fi

# --- start to ready on SQLite (binary already built) ----------------------------------
if [ "${STARTUP:-0}" = 1 ]; then
    dir=$(mktemp -d)
    times=()
    for _ in 1 2 3 4 5; do
        rm -rf "$dir/data"
        start=$(date +%s%N)
        (cd "$dir" && exec env APP_CONFIG_DIR=$ROOT/config APP__SERVER__PORT=8099 APP__LOG__LEVEL=warn \
            DATABASE_URL="sqlite://$dir/data/app.db?mode=rwc" "$BIN/api" > /dev/null 2>&1) &
        pid=$!
        until curl -sf -o /dev/null http://127.0.0.1:8099/health/ready; do sleep 0.002; done
        times+=($(( ($(date +%s%N) - start) / 1000000 )))
        kill "$pid"; wait "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
    { echo; echo "## start to ready on SQLite, fresh database (ms, 5 runs): ${times[*]}"; } >> "$SUMMARY"
fi

say "done: $SUMMARY"
cat "$SUMMARY"
