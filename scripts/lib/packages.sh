# shellcheck shell=bash
# The Debian packages keyfob's scripts need, from the one list in scripts/packages.debian.
# Source it from bash (.ci/run, ./scripts/test and ./scripts/demo do):
#
#   . scripts/lib/packages.sh
#   packages_ensure all      # every line of the list (./scripts/test, .ci/run)
#   packages_ensure demo     # the lines marked `demo` (./scripts/demo)
#   packages_list demo       # print the names, one a line
#
# packages_ensure asks dpkg-query which are missing; when none is, it does no apt work at all.
# Otherwise, as root or with passwordless sudo (`sudo -n true`), it runs apt-get update and
# `apt-get install -y --no-install-recommends` for the missing ones; else it prints the one
# `apt-get install` line to run and exits 2. On a system without dpkg-query (not Debian or
# Ubuntu) it says what to install and carries on: the tools' own checks name what is missing.
# Messages go to stderr, prefixed [packages].

PACKAGES_FILE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/packages.debian"

packages_log() { printf '[packages] %s\n' "$*" >&2; }

# Prints the package names for WHO (`all` or `demo`), one a line, in the list's order.
packages_list() {
    local who=${1:-all}
    [ -r "$PACKAGES_FILE" ] || {
        packages_log "error: $PACKAGES_FILE is missing"
        return 1
    }
    awk -v who="$who" '
        { sub(/#.*/, "") }
        NF == 0 { next }
        who == "all" { print $1; next }
        { for (i = 2; i <= NF; i++) if ($i == who) { print $1; next } }
    ' "$PACKAGES_FILE"
}

# Prints those of the named packages that dpkg does not have installed. A package whose
# triggers are still pending (another apt-get is running) counts as installed.
packages_missing() {
    # One dpkg-query for all (it names unknown packages on stderr and exits 1: ignored).
    local installed
    installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null |
        awk '$2 ~ /^(ii|it|iW)/ { print $1 }') || true
    local p
    for p in "$@"; do
        grep -qxF "$p" <<<"$installed" || printf '%s\n' "$p"
    done
}

# Installs what WHO needs and is missing (see the top of this file). Runs in a subshell so that
# its temporary policy-rc.d is removed by its own trap, whatever the caller's traps are.
packages_ensure() (
    set -euo pipefail
    local who=${1:-all}
    local wanted missing
    mapfile -t wanted < <(packages_list "$who")
    [ ${#wanted[@]} -gt 0 ] || exit 1
    if ! command -v dpkg-query >/dev/null; then
        packages_log "warning: no dpkg-query here (not Debian or Ubuntu?), so nothing is checked or installed;"
        packages_log "these are needed (Debian names): ${wanted[*]}"
        exit 0
    fi
    mapfile -t missing < <(packages_missing "${wanted[@]}")
    if [ ${#missing[@]} -eq 0 ]; then
        packages_log "all ${#wanted[@]} Debian packages ($who) are installed"
        exit 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            packages_log "missing Debian packages: ${missing[*]}"
            packages_log "install them (this needs root), then run this again:"
            printf 'sudo apt-get install -y --no-install-recommends %s\n' "${missing[*]}" >&2
            exit 2
        fi
    fi
    packages_log "installing ${missing[*]}"
    # simplesamlphp pulls in apache2 (and dbus has a system service): start no service.
    local policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        # shellcheck disable=SC2064 # expand now: the trap must remove exactly this file
        trap "${sudo[*]} rm -f $policy" EXIT
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
    fi
    # Another apt-get (unattended-upgrades on a fresh machine) may hold dpkg's lock: wait for it.
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600)
    "${sudo[@]}" "${apt[@]}" update
    "${sudo[@]}" "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
    mapfile -t missing < <(packages_missing "${wanted[@]}")
    if [ ${#missing[@]} -gt 0 ]; then
        packages_log "error: still not installed after apt-get install: ${missing[*]}"
        exit 1
    fi
)

# The Rust target of the Windows build (CI's compile check of the Windows code, and the Wine
# proof in scripts/peers/wine-smoke): added with rustup when it is missing.
PACKAGES_WINDOWS_TARGET=x86_64-pc-windows-gnu
packages_windows_target() {
    if rustup target list --installed 2>/dev/null | grep -qx "$PACKAGES_WINDOWS_TARGET"; then
        packages_log "rustup target $PACKAGES_WINDOWS_TARGET is installed"
        return 0
    fi
    command -v rustup >/dev/null || {
        packages_log "error: rustup not found: the Windows proof needs the rustup target $PACKAGES_WINDOWS_TARGET"
        return 1
    }
    rustup target add "$PACKAGES_WINDOWS_TARGET"
}
