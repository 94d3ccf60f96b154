#!/usr/bin/env bash
# What users of the published crates depend on, checked the way they will meet it.
#
# Usage: scripts/release-checks.sh [msrv|features|docs|publish|all]
#
#   msrv      the declared rust-version (installed with rustup) checks the library crates, on
#             the host and, for the browser-facing ones, on wasm32-unknown-unknown;
#   features  each feature set of each library crate builds, warnings denied: no default
#             features, each feature alone, all features;
#   docs      `cargo doc --no-deps` without a warning (broken intra-doc links, bad HTML);
#   publish   `cargo publish --dry-run` of every library crate in dependency order, which
#             packages each one and compiles it from the package, as crates.io will.
#
# Each check builds in its own target directory under target/, so the flags it sets do not
# invalidate the workspace's main build.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# Dependency order: each crate after the ones it depends on.
crates=(mywebsocket-proto mywebsocket mywebsocket-files-proto mywebsocket-files mywebsocket-hub mywebsocket-wasm)
# The crates a browser build uses.
wasm_crates=(mywebsocket-proto mywebsocket-files-proto mywebsocket-wasm)
# Feature sets per crate that has features (the others have one build).
declare -A feature_sets=(
    [mywebsocket]="--no-default-features|--no-default-features --features hyper|--no-default-features --features http2|--no-default-features --features tls|--no-default-features --features axum|--all-features"
    [mywebsocket-files-proto]="--no-default-features|--all-features"
    [mywebsocket-hub]="--no-default-features|--all-features"
)

log() { printf 'release-checks: %s\n' "$*" >&2; }
package_args() { local c; for c in "$@"; do printf -- '-p %s ' "$c"; done; }

msrv() {
    local version
    version=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
    [[ -n $version ]] || { log "no rust-version in Cargo.toml"; return 1; }
    log "MSRV $version"
    rustup toolchain install "$version" --profile minimal --no-self-update
    rustup target add wasm32-unknown-unknown --toolchain "$version"
    # shellcheck disable=SC2046
    CARGO_TARGET_DIR=target/msrv cargo "+$version" check --locked --all-features $(package_args "${crates[@]}")
    # shellcheck disable=SC2046
    CARGO_TARGET_DIR=target/msrv cargo "+$version" check --locked --target wasm32-unknown-unknown $(package_args "${wasm_crates[@]}")
}

features() {
    local crate sets set
    for crate in "${crates[@]}"; do
        sets=${feature_sets[$crate]:-"--all-features"}
        IFS='|' read -r -a list <<<"$sets"
        for set in "${list[@]}"; do
            log "features: $crate $set"
            # shellcheck disable=SC2086
            RUSTFLAGS="-D warnings" CARGO_TARGET_DIR=target/features cargo check --locked -p "$crate" --all-targets $set
        done
    done
}

docs() {
    log "docs, warnings denied, with all features and with the defaults"
    # shellcheck disable=SC2046
    RUSTDOCFLAGS="-D warnings" CARGO_TARGET_DIR=target/docs cargo doc --locked --no-deps --all-features $(package_args "${crates[@]}")
    # shellcheck disable=SC2046
    RUSTDOCFLAGS="-D warnings" CARGO_TARGET_DIR=target/docs cargo doc --locked --no-deps $(package_args "${crates[@]}")
}

# Cargo unpacks the dry run's packages from a registry under target/ into
# $CARGO_HOME/registry/src/-<hash of that path>/ and, on the next run from the same path,
# reuses what it finds there instead of unpacking the new package: a machine that ran the
# check before would verify the old sources. Only local registries' directories start with
# "-"; crates.io's copies are left alone.
forget_unpacked_packages() {
    local home=${CARGO_HOME:-$HOME/.cargo} crate
    for crate in "${crates[@]}"; do
        rm -rf "$home"/registry/src/-*/"$crate"-[0-9]*
    done
}

publish() {
    log "publish dry-run in dependency order"
    forget_unpacked_packages
    # shellcheck disable=SC2046
    CARGO_TARGET_DIR=target/publish cargo publish --locked --dry-run $(package_args "${crates[@]}")
}

case "${1:-all}" in
    msrv) msrv ;;
    features) features ;;
    docs) docs ;;
    publish) publish ;;
    all) msrv && features && docs && publish ;;
    *) log "unknown check: $1"; exit 2 ;;
esac
