#!/usr/bin/env bash
# Peer simulators on the style circuit, in their own optional venv (never needed by the tests).
#
# Creates .venv-peers (python3.11), tries to install PennyLane + lightning.qubit and
# tensorcircuit + JAX, each independently, and runs benchmarks/peers/peers.py with whatever
# installed. Packages that do not install are reported (stdout and the JSON), not faked.
#   bash benchmarks/peers/run.sh [peers.py flags, e.g. --points 5x2,10x4 --repeats 5]
set -u
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3.11}"
VENV="${PEERS_VENV:-.venv-peers}"
OUT_DIR="benchmarks/results"
mkdir -p "$OUT_DIR"
STATUS="$OUT_DIR/peers-install.txt"
: > "$STATUS"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "peers: $PYTHON not found; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || { echo "peers: could not create $VENV" >&2; exit 1; }
fi
"$VENV/bin/python" -m pip install -q --upgrade pip wheel >/dev/null 2>&1
"$VENV/bin/python" -m pip install -q "numpy<2.1" >/dev/null 2>&1

# Each peer group installs on its own, with a time limit; failures are recorded, not fatal.
install_group() {
  local name="$1"; shift
  local log="$OUT_DIR/peers-install-$name.log"
  if timeout "${PEERS_INSTALL_TIMEOUT:-600}" "$VENV/bin/python" -m pip install -q "$@" >"$log" 2>&1; then
    echo "$name: installed ($*)" | tee -a "$STATUS"
  else
    echo "$name: NOT installed ($*): $(tail -n 3 "$log" | tr '\n' ' ')" | tee -a "$STATUS"
  fi
}
install_group pennylane pennylane pennylane-lightning
install_group tensorcircuit tensorcircuit "jax[cpu]"

"$VENV/bin/python" benchmarks/peers/peers.py --install-status "$STATUS" "$@"
