#!/usr/bin/env bash
# Installs Autobahn|Testsuite (wstest) into a Python 2.7 virtualenv under the
# build directory and prints the path of the wstest executable on stdout.
#
# Usage: scripts/autobahn-setup.sh
#
# Idempotent: a virtualenv that already has the pinned requirements installed
# is reused as it is. A virtualenv cannot be moved, so it is rebuilt when it no
# longer starts (for example after the build directory was copied elsewhere).
#
# Environment:
#   AUTOBAHN_DIR  where to put everything (default: <repo>/target/autobahn);
#                 the virtualenv is $AUTOBAHN_DIR/venv
#   PYTHON2       a Python 2.7 interpreter (default: pyenv's 2.7.18, else
#                 python2.7 on PATH)
#
# All progress goes to stderr, so `wstest=$(scripts/autobahn-setup.sh)` works.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
autobahn_dir=${AUTOBAHN_DIR:-$repo_root/target/autobahn}
mkdir -p "$autobahn_dir"
# Absolute, because the virtualenv's scripts name its interpreter by full path.
autobahn_dir=$(cd "$autobahn_dir" && pwd)
requirements=$repo_root/conformance/autobahn/requirements.txt
venv=$autobahn_dir/venv
# Holds virtualenv itself, installed with pip --target, so that nothing is
# added to the system's or pyenv's Python 2.7.
bootstrap=$autobahn_dir/bootstrap
# Records which requirements file the virtualenv was filled from.
stamp=$venv/.requirements.sha256

log() { printf 'autobahn-setup: %s\n' "$*" >&2; }

find_python2() {
    if [[ -n ${PYTHON2:-} ]]; then
        printf '%s\n' "$PYTHON2"
    elif command -v pyenv >/dev/null 2>&1 \
        && PYENV_VERSION=2.7.18 pyenv which python2.7 >/dev/null 2>&1; then
        PYENV_VERSION=2.7.18 pyenv which python2.7
    elif command -v python2.7 >/dev/null 2>&1; then
        command -v python2.7
    else
        log "no Python 2.7 found: install pyenv's 2.7.18 or set PYTHON2"
        exit 1
    fi
}

# True when the virtualenv's interpreter runs and its scripts point at it
# (they name it by absolute path, so a moved virtualenv fails this).
venv_starts() {
    "$venv/bin/python" -c 'import sys' >/dev/null 2>&1 || return 1
    [[ $(head -n 1 "$venv/bin/pip") == "#!$venv/bin/python" ]]
}

# True when the virtualenv runs and holds exactly the pinned requirements.
venv_is_current() {
    [[ -x $venv/bin/wstest && -f $stamp ]] || return 1
    venv_starts || return 1
    [[ $(cat "$stamp") == "$(sha256sum <"$requirements")" ]] || return 1
    "$venv/bin/wstest" --autobahnversion >/dev/null 2>&1
}

# Two runs at once (say, two terminals) would race on the same virtualenv.
exec 9>"$autobahn_dir/.setup.lock"
flock 9

if venv_is_current; then
    log "reusing $venv"
else
    python2=$(find_python2)
    log "using $python2 ($("$python2" --version 2>&1))"

    if [[ ! -f $bootstrap/virtualenv/__init__.py ]]; then
        log "installing virtualenv into $bootstrap"
        rm -rf "$bootstrap"
        # virtualenv 20.22 dropped Python 2 support.
        "$python2" -m pip install --quiet --disable-pip-version-check \
            --no-warn-script-location --target "$bootstrap" 'virtualenv<20.22' >&2
    fi

    if [[ -d $venv ]] && ! venv_starts; then
        log "$venv is broken or was made at another path: rebuilding it"
        rm -rf "$venv"
    fi
    if [[ ! -x $venv/bin/python ]]; then
        log "creating $venv"
        # Keep virtualenv's seed-wheel cache under the build directory too.
        PYTHONPATH=$bootstrap VIRTUALENV_OVERRIDE_APP_DATA=$autobahn_dir/virtualenv-data \
            "$python2" -m virtualenv --quiet --no-periodic-update "$venv" >&2
    fi

    log "installing autobahntestsuite (pinned by ${requirements#"$repo_root"/})"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-python-version-warning -r "$requirements" >&2
    "$venv/bin/wstest" --autobahnversion >&2
    sha256sum <"$requirements" >"$stamp"
fi

printf '%s\n' "$venv/bin/wstest"
