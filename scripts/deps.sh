#!/bin/sh
# Install what hpod needs from Debian 12's packages (run as root, or with sudo
# available). With --check it only lists what is missing.
#   build:   compiler, autotools, the five libraries and LAPACKE
#   demo:    Python with scikit-learn (the example training job)
#   tests:   curl, bubblewrap (code sandbox), Chromium + Node.js (page tests),
#            PyYAML (manifest checks), clang (fuzzing), valgrind, venv, setuptools
#            and wheel (the Python client installed offline), Optuna and pandas
#            (the adapter compared with Optuna); the checkers:
#            python3-jsonschema (API answers), promtool (metrics), mandoc,
#            man-db, shellcheck, systemd-analyze
#   ops:     Slurm and MUNGE (the Slurm recipe's test), debhelper and lintian
#            (the Debian packages)
set -e
BUILD="build-essential autoconf automake libtool pkg-config libmicrohttpd-dev
libjansson-dev libsqlite3-dev libcurl4-openssl-dev check liblapacke-dev"
DEMO="python3 python3-sklearn nodejs npm"
TEST="curl bubblewrap chromium python3-yaml openssl clang libclang-rt-14-dev valgrind
procps python3-venv python3-setuptools python3-wheel python3-optuna python3-pandas
python3-jsonschema prometheus mandoc man-db shellcheck systemd"
OPS="slurmd slurmctld slurm-client munge debhelper lintian fakeroot dpkg-dev"
BENCH="python3-optuna"

want="$BUILD $DEMO"
for arg in "$@"; do
    case "$arg" in
    --tests) want="$want $TEST" ;;
    --bench) want="$want $BENCH" ;;
    --ops) want="$want $OPS" ;;
    --check) check=1 ;;
    esac
done

missing=""
for p in $want; do
    # Node.js may come from another package source that bundles npm
    case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ -n "${check:-}" ]; then
    echo "missing Debian packages:$missing"
    exit 1
fi
echo "installing Debian packages:$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
