# shellcheck shell=bash
# Shell functions that start keyfob's test peers on loopback and stop them again. Source it from
# bash (scripts/test does; a demo script can too):
#
#   . scripts/lib/peers.sh
#   peers_init                       # temp dir + a trap that stops everything started below
#   peers_venv .venv                 # Python venv with moto and boto3 (scripts/peers/requirements.txt)
#   peers_start_moto .venv           # exports KEYFOB_TEST_MOTO_URL, KEYFOB_TEST_PYTHON
#   peers_start_saml_idp             # exports KEYFOB_TEST_SAML_IDP_URL (scripts/saml-idp/*.sh)
#   peers_find_browser               # exports KEYFOB_TEST_BROWSER (chromium, for the browser login)
#   scripts/peers/keychain-session CMD...   # CMD inside a working kernel keyring + gnome-keyring
#
# What each peer can do, and its quirks on these machines: ../shared/PEERS.md.
# Functions are prefixed `peers_`; globals `PEERS_`. Messages go to stderr.

PEERS_PIDS=()     # background processes started here, stopped by peers_cleanup
PEERS_PIDFILES=() # pid files of daemons that other scripts started (SimpleSAMLphp's php -S)
PEERS_TMP=""      # scratch directory for logs and state, removed on exit

peers_log() { printf '[peers] %s\n' "$*" >&2; }
peers_die() {
    peers_log "error: $*"
    exit 1
}

# Seconds since the epoch, with microseconds (bash 5).
peers_now() { printf '%s' "${EPOCHREALTIME/,/.}"; }

# Seconds elapsed since START (a peers_now value), as "12.3s".
peers_since() { awk -v a="$1" -v b="$(peers_now)" 'BEGIN { printf "%.1fs", b - a }'; }

# Creates PEERS_TMP and installs the trap that stops every peer on exit, failure or Ctrl-C.
peers_init() {
    PEERS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/keyfob-peers.XXXXXX")
    trap peers_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Stops what was started (TERM, then KILL after 5 s) and removes PEERS_TMP. Safe to call twice.
# KEYFOB_KEEP_PEERS_TMP=1 keeps the directory (logs) for a post-mortem.
peers_cleanup() {
    local pid file
    local pids=("${PEERS_PIDS[@]}")
    for file in "${PEERS_PIDFILES[@]}"; do
        [ -f "$file" ] && pids+=("$(cat "$file")")
    done
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        local i=0
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PEERS_PIDS=()
    PEERS_PIDFILES=()
    if [ -n "$PEERS_TMP" ] && [ "${KEYFOB_KEEP_PEERS_TMP:-0}" != 1 ]; then
        rm -rf "$PEERS_TMP"
    elif [ -n "$PEERS_TMP" ]; then
        peers_log "kept $PEERS_TMP"
    fi
    PEERS_TMP=""
}

# Takes PID off the list peers_cleanup stops (it was waited for).
peers_forget() {
    local pid keep=()
    for pid in "${PEERS_PIDS[@]}"; do
        [ "$pid" = "$1" ] || keep+=("$pid")
    done
    PEERS_PIDS=("${keep[@]}")
}

# Prints a TCP port on 127.0.0.1 that was free a moment ago.
peers_free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Waits until 127.0.0.1:PORT accepts a connection. Fails after TIMEOUT seconds (default 20), or
# at once when PID (optional) has exited.
peers_wait_port() {
    local port=$1 pid=${2:-} timeout=${3:-20}
    local deadline=$((SECONDS + timeout))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.05
    done
}

# Makes (or reuses) a Python venv at DIR with scripts/peers/requirements.txt installed. Reuse is
# decided by a copy of the requirements kept in the venv: change the file and the next run
# reinstalls. Set PYTHON to choose the interpreter (default python3).
peers_venv() {
    local dir=$1
    local req
    req="$(dirname "${BASH_SOURCE[0]}")/../peers/requirements.txt"
    local stamp="$dir/.keyfob-requirements.txt"
    if [ -x "$dir/bin/python" ] && cmp -s "$req" "$stamp" && "$dir/bin/python" -c 'import moto, boto3' 2>/dev/null; then
        return 0
    fi
    local py=${PYTHON:-python3}
    command -v "$py" >/dev/null || peers_die "$py not found: install Python 3 (apt-get install python3 python3-venv)"
    if [ ! -x "$dir/bin/python" ] || ! "$dir/bin/python" -c 'import sys' 2>/dev/null; then
        rm -rf "$dir"
        peers_log "creating Python venv $dir"
        # Debian's python3 cannot make a venv (no ensurepip) without the python3-venv package.
        if ! "$py" -m venv "$dir" >"${PEERS_TMP:-/tmp}/python-m-venv.log" 2>&1; then
            cat "${PEERS_TMP:-/tmp}/python-m-venv.log" >&2
            rm -rf "$dir"
            peers_die "'$py -m venv' failed: on Debian, apt-get install python3-venv"
        fi
    fi
    peers_log "installing $(grep -v '^#' "$req" | xargs) into $dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$req" ||
        peers_die "pip install into $dir failed"
    cp "$req" "$stamp"
}

# Starts moto's server (STS) from venv DIR on a free loopback port, waits until it answers, and
# exports KEYFOB_TEST_MOTO_URL and KEYFOB_TEST_PYTHON (the venv's python, with boto3). The
# account is 111122223333 so that AssumeRoleWithSAML answers as the test roles' account.
# AWS_ENDPOINT_URL_STS is deliberately not exported: every in-process test that builds an
# aws-config loader would then call moto without saying so. A test that needs the variable
# sets it from KEYFOB_TEST_MOTO_URL for a child process (crates/saml/tests/real_peers.rs).
peers_start_moto() {
    local venv
    venv=$(cd "$1" && pwd)
    local try port pid log
    for try in 1 2 3; do
        port=$(peers_free_port)
        log="$PEERS_TMP/moto-$port.log"
        MOTO_ACCOUNT_ID=111122223333 "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" \
            </dev/null >"$log" 2>&1 &
        pid=$!
        if peers_wait_port "$port" "$pid" 30; then
            PEERS_PIDS+=("$pid")
            export KEYFOB_TEST_MOTO_URL="http://127.0.0.1:$port"
            export KEYFOB_TEST_PYTHON="$venv/bin/python"
            peers_log "moto: $KEYFOB_TEST_MOTO_URL (pid $pid, log $log)"
            return 0
        fi
        # Most likely someone took the port between peers_free_port and the bind: try another.
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        peers_log "moto did not come up on port $port (try $try):"
        tail -n 5 "$log" >&2 || true
    done
    return 1
}

# Sets up and starts the SimpleSAMLphp IdP with scripts/saml-idp/{setup,start}.sh on a free
# port, and exports KEYFOB_TEST_SAML_IDP_URL (the IdP-initiated sign-in URL start.sh prints).
peers_start_saml_idp() {
    local scripts
    scripts="$(dirname "${BASH_SOURCE[0]}")/../saml-idp"
    local dir="$PEERS_TMP/saml-idp" port url
    port=$(peers_free_port)
    "$scripts/setup.sh" "$dir" "$port" >"$PEERS_TMP/saml-idp-setup.log" 2>&1 || {
        cat "$PEERS_TMP/saml-idp-setup.log" >&2
        return 1
    }
    PEERS_PIDFILES+=("$dir/php.pid")
    url=$("$scripts/start.sh" "$dir" </dev/null) || return 1
    export KEYFOB_TEST_SAML_IDP_URL="$url"
    peers_log "SimpleSAMLphp IdP: $url (pid $(cat "$dir/php.pid"), logs $dir/log)"
}

# Finds the Chromium the browser-login tests drive (Debian's `chromium`), and exports
# KEYFOB_TEST_BROWSER with its path. Nothing is started: each test's keyfob starts its own.
peers_find_browser() {
    local b
    for b in chromium chromium-browser google-chrome google-chrome-stable; do
        if command -v "$b" >/dev/null 2>&1; then
            export KEYFOB_TEST_BROWSER
            KEYFOB_TEST_BROWSER="$(command -v "$b")"
            peers_log "browser: $KEYFOB_TEST_BROWSER ($("$KEYFOB_TEST_BROWSER" --version 2>/dev/null | head -n 1))"
            return 0
        fi
    done
    return 1
}
