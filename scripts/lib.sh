# Shared by the scripts that install what they need: `source "$(dirname "$0")/lib.sh"`.
# The caller defines `log` (its messages carry the script's name).

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root (or sudo) to run: $*"
        return 1
    fi
}

# Installs Debian packages with apt-get. A mirror can be mid-update (an archive the index
# names is missing for a while), so a failed install is retried with a fresh index, three
# attempts in all. Returns 1 when there is no apt-get or every attempt failed.
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "missing $* and there is no apt-get to install them"
        return 1
    fi
    log "installing $* with apt-get"
    as_root apt-get update -qq
    local attempt
    for attempt in 1 2 3; do
        if as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; then
            return 0
        fi
        log "apt-get install failed (attempt $attempt of 3), retrying"
        sleep $((attempt * 5))
        as_root apt-get update -qq || true
    done
    log "could not install $*"
    return 1
}
