#!/usr/bin/env bash
# `make bazel-test`: runs every Bazel target (the package libraries, one py_test per
# tests/test_*.py, the layering check) offline on the .venv interpreter.
#
# - Installs Debian's bazel-bootstrap (Bazel 4.2.3) when `bazel` is missing (root, or sudo).
# - Test results are never cached (.bazelrc): the venv's packages are not Bazel inputs.
# - Always shuts the Bazel server down afterwards (it keeps ~250 MB otherwise), and exits
#   with bazel's status. Extra arguments go to `bazel test`, e.g.
#   `bash tools/bazel/run_bazel_test.sh //tests:test_compat --test_output=all`.
set -uo pipefail
cd "$(dirname "$0")/../.."

if ! command -v bazel >/dev/null 2>&1; then
    echo "run_bazel_test: bazel not found; installing Debian's bazel-bootstrap (Bazel 4.2.3)" >&2
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "run_bazel_test: need root (or sudo) to apt-get install bazel-bootstrap" >&2
            exit 1
        }
        sudo=(sudo)
    fi
    log=$(mktemp)
    if ! { "${sudo[@]}" apt-get update \
            && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y bazel-bootstrap
         } >"$log" 2>&1; then
        cat "$log" >&2
        echo "run_bazel_test: installing bazel-bootstrap failed (log above)" >&2
        exit 1
    fi
    rm -f "$log"
fi

if [ ! -x .venv/bin/python3 ]; then
    echo "run_bazel_test: .venv/bin/python3 is missing; run \`make install\` first" >&2
    exit 1
fi

trap 'bazel shutdown >/dev/null 2>&1 || true' EXIT

if [ "$#" -eq 0 ]; then
    set -- //...
fi
start=$(date +%s)
bazel test "$@"
status=$?
echo "run_bazel_test: bazel test finished in $(( $(date +%s) - start )) s (exit status $status)"
exit "$status"
