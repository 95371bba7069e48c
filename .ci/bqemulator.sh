#!/usr/bin/env bash
# BigQuery API emulator (bqemulator, PyPI) in its own virtualenv.
# It conflicts with the main venv (sqlglot<30.12, opentelemetry>=1.24 vs soda-core), so keep it apart.
#
#   bash .ci/bqemulator.sh install VENV_DIR
#   bash .ci/bqemulator.sh start   VENV_DIR PORT GRPC_PORT PROJECT LOGFILE
#   bash .ci/bqemulator.sh stop    VENV_DIR PORT
#
# All commands are idempotent. One venv may serve several emulators at once (one per REST port):
# each instance has its own pid file, VENV_DIR/bqemulator.PORT.pid, and `stop` ends only the
# instance of PORT. See .ci/BQEMULATOR.md for findings.
set -euo pipefail

BQEMU_PKGS=(
  "bqemulator==1.4.0"
  "numpy==2.4.6"
  "duckdb==1.5.5"
  "duckdb-extension-spatial==1.5.5"
)
PYTHON="${BQEMU_PYTHON:-python3}"

usage() {
  sed -n '2,11p' "$0" >&2
  exit 2
}

# Everything the emulator (and duckdb's extension cache) writes goes below VENV_DIR/state,
# never into the repo or the real $HOME.
state_env() {
  local venv="$1"
  mkdir -p "$venv/state/home" "$venv/state/tmp"
  export HOME="$venv/state/home"
  export TMPDIR="$venv/state/tmp"
  export XDG_CACHE_HOME="$venv/state/home/.cache"
  export XDG_DATA_HOME="$venv/state/home/.local/share"
}

cmd_install() {
  local venv="${1:?VENV_DIR}"
  venv="$(mkdir -p "$venv" && cd "$venv" && pwd)"
  if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
  fi
  if ! "$venv/bin/python" - "${BQEMU_PKGS[@]}" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, _, want = spec.partition("==")
    have = version(name)
    if want and have != want:
        sys.exit(1)
EOF
  then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "${BQEMU_PKGS[@]}"
  fi
  (
    state_env "$venv"
    # One-time INSTALL of the spatial extension from the wheel's bundled file (no network download).
    "$venv/bin/python" - <<'EOF'
import glob, os
import duckdb, duckdb_extension_spatial
root = os.path.dirname(duckdb_extension_spatial.__file__)
ver = duckdb.__version__
cands = glob.glob(os.path.join(root, "extensions", "v" + ver, "spatial.duckdb_extension")) \
    or glob.glob(os.path.join(root, "**", "spatial.duckdb_extension"), recursive=True)
if not cands:
    raise SystemExit(f"spatial.duckdb_extension not found under {root}")
con = duckdb.connect()
con.sql(f"INSTALL '{cands[0]}'")
con.sql("LOAD spatial")
print("duckdb", ver, "spatial installed from", cands[0])
EOF
  )
  "$venv/bin/bqemulator" --help >/dev/null
}

port_open() {
  # REST answers on 127.0.0.1:$2 with any HTTP status (uses the venv's python: no curl needed)
  "$1/bin/python" - "$2" <<'EOF' >/dev/null 2>&1
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=2)
except urllib.error.HTTPError:
    pass
EOF
}

cmd_start() {
  local venv="${1:?VENV_DIR}" port="${2:?PORT}" grpc="${3:?GRPC_PORT}" project="${4:?PROJECT}" log="${5:?LOGFILE}"
  venv="$(cd "$venv" && pwd)"
  local pidf="$venv/bqemulator.$port.pid"
  [ -x "$venv/bin/bqemulator" ] || { echo "bqemulator not installed in $venv (run: $0 install $venv)" >&2; exit 1; }
  if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null && port_open "$venv" "$port"; then
    echo "bqemulator already running (pid $(cat "$pidf")) on 127.0.0.1:$port"
    return 0
  fi
  if port_open "$venv" "$port"; then
    echo "port $port already in use by another process" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$log")"
  (
    state_env "$venv"
    cd "$venv/state"   # the emulator reads ./.bqemu.toml: never pick one up from the repo
    # Avro needs a download from DuckDB's extension site (unreachable offline); skip that attempt.
    export BQEMU_ENABLE_FORMAT_EXTENSIONS="${BQEMU_ENABLE_FORMAT_EXTENSIONS:-false}"
    exec setsid "$venv/bin/bqemulator" start \
      --rest-host 127.0.0.1 --rest-port "$port" \
      --grpc-host 127.0.0.1 --grpc-port "$grpc" \
      --project "$project" </dev/null >>"$log" 2>&1
  ) &
  local pid=$!
  echo "$pid" >"$pidf"
  local deadline=$((SECONDS + 30))
  while [ $SECONDS -lt $deadline ]; do
    if port_open "$venv" "$port"; then
      echo "bqemulator up (pid $pid) on http://127.0.0.1:$port, grpc 127.0.0.1:$grpc, project $project"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    sleep 0.5
  done
  echo "bqemulator did not answer on 127.0.0.1:$port; log tail ($log):" >&2
  tail -n 40 "$log" >&2 || true
  cmd_stop "$venv" "$port" >/dev/null 2>&1 || true
  exit 1
}

cmd_stop() {
  local venv="${1:?VENV_DIR}" port="${2:?PORT (the REST port the instance was started on)}"
  local pidf="$venv/bqemulator.$port.pid"
  [ -f "$pidf" ] || { echo "no pid file ($pidf): not running"; return 0; }
  local pid
  pid="$(cat "$pidf")"
  # only kill the pid if it is still the bqemulator of this port (pid files can go stale, and a
  # recycled pid may belong to anything, another engineer's emulator included)
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null \
      | grep -q -- "bqemulator start .*--rest-port $port "; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    echo "bqemulator (pid $pid, port $port) stopped"
  else
    echo "bqemulator (pid $pid, port $port) was not running"
  fi
  rm -f "$pidf"
}

case "${1:-}" in
  install) shift; cmd_install "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) usage ;;
esac
