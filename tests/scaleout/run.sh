#!/usr/bin/env bash
# Scale-out check: two api instances on two ports against one PostgreSQL database, driven at
# the same time, then the same through pgbouncer. Per phase:
#   1. create:    two `bench create --keep` runs, one per instance, concurrently; every 201 the
#                 clients got must be a row (rows found == creates acknowledged), no errors;
#   2. lifecycle: two `bench lifecycle` runs concurrently (create, read, replace, delete): no
#                 errors, and no row left behind or lost;
#   3. If-Match:  concurrent read-ETag-then-PATCH(price+1) clients alternating between the
#                 instances, retrying on 412: final price == number of 200s;
#   4. Idempotency-Key: 16 concurrent POSTs with one key over both instances: one row, 201s
#                 identical, the rest 409 (skipped, with a line saying so, on a build without
#                 the feature);
#   5. statement timeout: a list waiting on a lock held longer than the instances' statement
#                 timeout (the default, 5 s) is cancelled by PostgreSQL: 503 with the
#                 documented detail after about 5 s; the next request is 200.
# Phase "via pgbouncer" runs Debian's pgbouncer (installed if missing) as user nobody on a
# free port with a generated config, in transaction pooling mode, the instances configured
# with APP__DATABASE__PREPARED_STATEMENTS=false; their statement timeout (the default 5 s)
# travels with each statement, and the database has none of its own.
#
# Environment: SCALEOUT_PROFILE=debug|release (binaries from target/<profile>; default debug,
# what `cargo test` already built), SCALEOUT_SKIP_BUILD=1 (use the binaries as they are),
# SCALEOUT_DURATION (seconds of bench load per mode, default 3), TEST_DATABASE_URL (admin URL
# with CREATEDB, default the role .ci/run creates). Logs and bench reports: target/scaleout/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PROFILE=${SCALEOUT_PROFILE:-debug}
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE
DURATION=${SCALEOUT_DURATION:-3}
ADMIN_URL=${TEST_DATABASE_URL:-postgres://app_test:app_test@127.0.0.1:5432/postgres}
OUT=$ROOT/target/scaleout
STARTED=$SECONDS
say() { printf -- '--- %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
rm -rf "$OUT" && mkdir -p "$OUT"

# --- binaries --------------------------------------------------------------------------------
if [ "${SCALEOUT_SKIP_BUILD:-0}" != 1 ]; then
    say "cargo build ($PROFILE) -p api -p migration -p bench"
    if [ "$PROFILE" = release ]; then
        cargo build -q --release -p api -p migration -p bench
    else
        cargo build -q -p api -p migration -p bench
    fi
fi
for b in api migration bench; do
    [ -x "$BIN/$b" ] || fail "$BIN/$b is missing (build it, or unset SCALEOUT_SKIP_BUILD)"
done

# --- PostgreSQL, as .ci/run prepares it --------------------------------------------------------
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    say "starting PostgreSQL"
    # shellcheck disable=SC2012 # version folder names, as .ci/run does
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
fi
for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
pg_isready -q -h 127.0.0.1 -p 5432 || fail "PostgreSQL is not answering on 127.0.0.1:5432"
if [ -z "${TEST_DATABASE_URL:-}" ]; then
    (cd / && su postgres -c "psql -X -q -v ON_ERROR_STOP=1" <<'SQL')
SET client_min_messages = warning;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_test') THEN
    CREATE ROLE app_test LOGIN CREATEDB PASSWORD 'app_test';
  END IF;
END $$;
SQL
fi
# The role and password the instances (and pgbouncer's clients) log in with.
DB_USER=$(python3 -c 'import sys, urllib.parse as u; print(u.unquote(u.urlsplit(sys.argv[1]).username or ""))' "$ADMIN_URL")
DB_PASS=$(python3 -c 'import sys, urllib.parse as u; print(u.unquote(u.urlsplit(sys.argv[1]).password or ""))' "$ADMIN_URL")
DB=scaleout_$$
DB_URL="${ADMIN_URL%/*}/$DB"

# --- cleanup: only what this script started ----------------------------------------------------
PIDS=()
declare -A API_PID # instance name -> pid
WORK=$(mktemp -d /tmp/scaleout.XXXXXX)
chmod 711 "$WORK" # pgbouncer runs as nobody and reads its folder inside
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    psql -q -X "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql -q -X -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "CREATE DATABASE $DB" >/dev/null
say "database $DB: migration up"
"$BIN/migration" -u "$DB_URL" up > "$OUT/migration.log" 2>&1 || {
    cat "$OUT/migration.log"
    fail "migration up"
}
sql() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$DB_URL" -c "$1"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_api NAME PORT DATABASE_URL [VAR=VALUE ...]: an instance in the background, ready.
start_api() {
    local name=$1 port=$2 url=$3
    shift 3
    env APP_ENV=test APP__SERVER__PORT="$port" APP__SERVER__WORKERS=2 \
        APP__DATABASE__MAX_CONNECTIONS=8 APP__DATABASE__AUTO_MIGRATE=false APP__LOG__LEVEL=warn \
        DATABASE_URL="$url" "$@" "$BIN/api" > "$OUT/$name.log" 2>&1 &
    PIDS+=("$!")
    API_PID[$name]=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && return 0
        kill -0 "$!" 2>/dev/null || break
        sleep 0.1
    done
    cat "$OUT/$name.log" >&2
    fail "instance $name did not become ready on port $port"
}

# stop_pid PID: stops one process this script started.
stop_pid() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local kept=()
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
    PIDS=("${kept[@]}")
}

# bench_summary FILE: "units_ok errors non_2xx kept 201s | first error" from one bench report.
bench_summary() {
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rows = r["results"]
errors = sum(x["errors"] for x in rows)
non2xx = sum(n for x in rows for s, n in x["status_counts"].items() if not 200 <= int(s) < 300)
created = sum(n for x in rows for s, n in x["status_counts"].items() if int(s) == 201)
print(sum(x["units_ok"] for x in rows), errors, non2xx, r["cleanup"]["kept"], created,
      "|", (next((x["first_error"] for x in rows if x["first_error"]), "") or "").replace("\n", " ")[:200])
PY
}

SUMMARY=()

# statement_timeout LABEL URL: check 5 against one instance.
statement_timeout() {
    local label=$1 url=$2 locker granted=0 out status took
    psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" \
        -c "BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(7); COMMIT;" >/dev/null &
    locker=$!
    PIDS+=("$locker")
    for _ in $(seq 50); do
        granted=$(sql "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'items' AND l.mode = 'AccessExclusiveLock' AND l.granted")
        [ "$granted" = 1 ] && break
        sleep 0.1
    done
    [ "$granted" = 1 ] || fail "[$label] statement timeout: the lock on items was not taken"
    out=$(curl -s -m 30 -w '\n%{http_code} %{time_total}' "$url/items/?page_size=1")
    read -r status took <<<"$(tail -1 <<<"$out")"
    stop_pid "$locker"
    [ "$status" = 503 ] || fail "[$label] statement timeout: $status after ${took}s (expected 503): $out"
    grep -q '"detail":"The database took too long to answer."' <<<"$out" ||
        fail "[$label] statement timeout: unexpected body: $out"
    python3 -c "import sys; t = float(sys.argv[1]); sys.exit(0 if 4.5 <= t < 6.9 else 1)" "$took" ||
        fail "[$label] statement timeout: answered after ${took}s (the timeout is 5 s, the lock 7 s)"
    status=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$url/items/?page_size=1")
    [ "$status" = 200 ] || fail "[$label] statement timeout: the next request got $status"
    echo "    a list blocked by a lock: 503 after ${took}s, the next one 200"
    SUMMARY+=("$label | statement timeout: 503 after ${took}s, then 200")
}

# phase LABEL URL_A URL_B: the four checks against two instances.
phase() {
    local label=$1 a=$2 b=$3 tag
    tag=$(echo "$label" | tr -c 'a-z0-9\n' '-')
    say "[$label] create: bench on both instances at once, ${DURATION}s"
    local before after
    before=$(sql "SELECT count(*) FROM items WHERE name = 'bench'")
    local common=(--warmup 0 -d "$DURATION" -c 8 --threads 1 --keep --json -q)
    timeout 60 "$BIN/bench" create -t a="$a" "${common[@]}" --out "$OUT/$tag-create-a" > "$OUT/$tag-create-a.json" 2> "$OUT/$tag-create-a.log" &
    local ba=$!
    timeout 60 "$BIN/bench" create -t b="$b" "${common[@]}" --out "$OUT/$tag-create-b" > "$OUT/$tag-create-b.json" 2> "$OUT/$tag-create-b.log" &
    local bb=$!
    wait "$ba" || fail "[$label] bench create against instance a failed (see $OUT)"
    wait "$bb" || fail "[$label] bench create against instance b failed (see $OUT)"
    after=$(sql "SELECT count(*) FROM items WHERE name = 'bench'")
    local ua ea na ka ca ub eb nb kb cb
    read -r ua ea na ka ca _ <<<"$(bench_summary "$OUT/$tag-create-a.json" | cut -d'|' -f1)"
    read -r ub eb nb kb cb _ <<<"$(bench_summary "$OUT/$tag-create-b.json" | cut -d'|' -f1)"
    local acked=$((ka + kb)) found=$((after - before))
    echo "    a: $ca x 201, b: $cb x 201; errors $((ea + eb)), non-2xx $((na + nb)); rows expected $acked, found $found"
    [ $((ea + eb + na + nb)) -eq 0 ] || fail "[$label] create: errors or non-2xx answers: $(bench_summary "$OUT/$tag-create-a.json" | cut -d'|' -f2) $(bench_summary "$OUT/$tag-create-b.json" | cut -d'|' -f2)"
    [ "$acked" -gt 0 ] || fail "[$label] create: nothing was created"
    [ "$acked" -eq $((ca + cb)) ] || fail "[$label] create: $((ca + cb)) answers 201 but $acked ids kept"
    [ "$found" -eq "$acked" ] || fail "[$label] create: $acked creates acknowledged, $found rows in the database (lost or phantom writes)"
    SUMMARY+=("$label | create: rows expected $acked, found $found")

    say "[$label] lifecycle: bench on both instances at once, ${DURATION}s"
    before=$(sql "SELECT count(*) FROM items")
    timeout 60 "$BIN/bench" lifecycle -t a="$a" "${common[@]}" --out "$OUT/$tag-lifecycle-a" > "$OUT/$tag-lifecycle-a.json" 2> "$OUT/$tag-lifecycle-a.log" &
    ba=$!
    timeout 60 "$BIN/bench" lifecycle -t b="$b" "${common[@]}" --out "$OUT/$tag-lifecycle-b" > "$OUT/$tag-lifecycle-b.json" 2> "$OUT/$tag-lifecycle-b.log" &
    bb=$!
    wait "$ba" || fail "[$label] bench lifecycle against instance a failed (see $OUT)"
    wait "$bb" || fail "[$label] bench lifecycle against instance b failed (see $OUT)"
    after=$(sql "SELECT count(*) FROM items")
    read -r ua ea na ka _ <<<"$(bench_summary "$OUT/$tag-lifecycle-a.json" | cut -d'|' -f1)"
    read -r ub eb nb kb _ <<<"$(bench_summary "$OUT/$tag-lifecycle-b.json" | cut -d'|' -f1)"
    echo "    lifecycles ok: a $ua, b $ub; errors $((ea + eb)), non-2xx $((na + nb)); rows left $((after - before)) (expected $((ka + kb)))"
    [ $((ea + eb + na + nb)) -eq 0 ] || fail "[$label] lifecycle: errors or non-2xx answers: $(bench_summary "$OUT/$tag-lifecycle-a.json" | cut -d'|' -f2) $(bench_summary "$OUT/$tag-lifecycle-b.json" | cut -d'|' -f2)"
    if [ "$ua" -eq 0 ] || [ "$ub" -eq 0 ]; then fail "[$label] lifecycle: an instance completed no lifecycle"; fi
    [ $((after - before)) -eq $((ka + kb)) ] || fail "[$label] lifecycle: $((after - before)) rows left behind, $((ka + kb)) expected"
    SUMMARY+=("$label | lifecycle: $((ua + ub)) create-read-replace-delete cycles, rows left $((after - before)) (expected $((ka + kb)))")

    say "[$label] If-Match: concurrent read-then-PATCH over both instances"
    local line
    line=$(timeout 120 python3 tests/scaleout/checks.py ifmatch "$a" "$b") || fail "[$label] $line"
    echo "    $line"
    SUMMARY+=("$label | ${line#ok: }")

    say "[$label] Idempotency-Key over both instances"
    line=$(timeout 120 python3 tests/scaleout/checks.py idempotency "$a" "$b") || fail "[$label] $line"
    echo "    $line"
    SUMMARY+=("$label | ${line#ok: }")

    say "[$label] statement timeout: a list waiting on a lock"
    statement_timeout "$label" "$a"
}

# --- phase 1: two instances straight on PostgreSQL ---------------------------------------------
PORT_A=$(free_port)
PORT_B=$(free_port)
while [ "$PORT_B" = "$PORT_A" ]; do PORT_B=$(free_port); done
say "instances a (:$PORT_A) and b (:$PORT_B) on PostgreSQL"
start_api a "$PORT_A" "$DB_URL"
start_api b "$PORT_B" "$DB_URL"
phase "direct" "http://127.0.0.1:$PORT_A" "http://127.0.0.1:$PORT_B"
stop_pid "${API_PID[a]}"
stop_pid "${API_PID[b]}"

# --- phase 2: the same through pgbouncer --------------------------------------------------------
if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
    say "installing Debian's pgbouncer"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer >/dev/null 2>&1 || {
        DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer >/dev/null
    }
fi
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
PGB_VERSION=$("$PGBOUNCER" --version | head -1)
PGB_DIR=$WORK/pgbouncer
mkdir -p "$PGB_DIR"

# start_pgbouncer MODE POOL_SIZE: writes the config and runs pgbouncer as nobody.
start_pgbouncer() {
    local mode=$1 size=$2
    PGB_PORT=$(free_port)
    while [ "$PGB_PORT" = "$PORT_A" ] || [ "$PGB_PORT" = "$PORT_B" ]; do PGB_PORT=$(free_port); done
    python3 - "$PGB_DIR/userlist.txt" "$DB_USER" "$DB_PASS" <<'PY'
import sys
path, user, password = sys.argv[1:]
q = lambda s: '"' + s.replace('"', '""') + '"'
open(path, "w").write(f"{q(user)} {q(password)}\n")
PY
    sed -e "s|@DB@|$DB|g" -e "s|@PORT@|$PGB_PORT|g" -e "s|@DIR@|$PGB_DIR|g" \
        -e "s|@MODE@|$mode|g" -e "s|@POOL_SIZE@|$size|g" \
        tests/scaleout/pgbouncer.ini.in > "$PGB_DIR/pgbouncer.ini"
    chown -R nobody:nogroup "$PGB_DIR"
    chmod 600 "$PGB_DIR/userlist.txt"
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$PGBOUNCER" "$PGB_DIR/pgbouncer.ini" \
        > "$OUT/pgbouncer-$mode.out" 2>&1 &
    PGB_PID=$!
    PIDS+=("$PGB_PID")
    for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p "$PGB_PORT" && return 0; sleep 0.1; done
    cat "$OUT/pgbouncer-$mode.out" "$PGB_DIR/pgbouncer.log" >&2 2>/dev/null || true
    fail "pgbouncer did not start on port $PGB_PORT"
}

# What the instances need behind pgbouncer in transaction mode: no prepared statements (1.18
# cannot track them across server connections): values go inlined over the simple query
# protocol, each statement with its `SET LOCAL statement_timeout` (no startup `options`, which
# pgbouncer would refuse).
PGB_ENV=(APP__DATABASE__PREPARED_STATEMENTS=false)

start_pgbouncer transaction 6
PGB_URL="postgres://$DB_USER:$DB_PASS@127.0.0.1:$PGB_PORT/$DB"
say "pgbouncer ($PGB_VERSION) on :$PGB_PORT, transaction pooling, 6 server connections for 2 x 8 client connections"
start_api pa "$PORT_A" "$PGB_URL" "${PGB_ENV[@]}"
start_api pb "$PORT_B" "$PGB_URL" "${PGB_ENV[@]}"
MODE=transaction
line=$(timeout 120 python3 tests/scaleout/checks.py probe "http://127.0.0.1:$PORT_A" "http://127.0.0.1:$PORT_B") ||
    fail "[via pgbouncer, transaction mode] $line"
echo "    $line"
phase "pgbouncer ($MODE)" "http://127.0.0.1:$PORT_A" "http://127.0.0.1:$PORT_B"
SERVER_CONNS=$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB' AND application_name <> 'psql'")
stop_pid "${API_PID[pa]}"
stop_pid "${API_PID[pb]}"

# --- summary ---------------------------------------------------------------------------------
echo
echo "scale-out summary (2 instances, $PROFILE build, ${DURATION}s of bench load per mode)"
for s in "${SUMMARY[@]}"; do echo "  $s"; done
echo "  pgbouncer: $PGB_VERSION, $MODE pooling, $SERVER_CONNS server connections open at the end"
echo "scale-out: all checks passed in $((SECONDS - STARTED)) s"
