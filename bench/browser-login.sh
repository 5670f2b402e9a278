#!/usr/bin/env bash
# A silent headless browser refresh (`credential-process` on a `keyfob_saml_login = browser`
# profile whose IdP session is valid) next to a form-engine login (`keyfob login` with the
# stored password), both against the same SimpleSAMLphp IdP and moto's STS, in one run.
#
#   ./bench/browser-login.sh        # RUNS=10; PROFILE=debug to time the debug build
#
# Needs hyperfine and chromium (Debian packages). Prints a markdown table; raw hyperfine JSON
# goes to bench/results/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../scripts/lib/peers.sh
. scripts/lib/peers.sh
export RUNS=${RUNS:-10}
export BUILD=${PROFILE:-release}

if [ "${1:-}" != --inside ]; then
    peers_init
    if [ "$BUILD" = release ]; then
        cargo build --release --locked -p keyfob >&2
    else
        cargo build --locked -p keyfob >&2
    fi
    cargo build --locked -p keyfob-tests --bin keyfob-browser-player >&2
    peers_venv .venv
    peers_start_moto .venv
    peers_start_saml_idp
    peers_find_browser || peers_die "no chromium (apt-get install chromium)"
    mkdir -p bench/results
    KEYFOB_TEST_REQUIRE_PEERS=1 scripts/peers/keychain-session "$0" --inside
    python3 - "$RUNS" "$("$KEYFOB_TEST_BROWSER" --version | head -n 1)" "$BUILD" <<'PY'
import json, sys
runs, version, build = sys.argv[1], sys.argv[2], sys.argv[3]
d = json.load(open("bench/results/browser-login.json"))["results"]
br, form = d[0]["median"], d[1]["median"]
print(f"| keyfob {build} build, kernel keyring | median of {runs} | min | max |")
print("|---|---|---|---|")
print(f"| silent headless refresh: `credential-process`, browser profile ({version}) | {br:.2f} s | {d[0]['min']:.2f} s | {d[0]['max']:.2f} s |")
print(f"| form-engine login: `keyfob login`, stored password (same run) | {form:.2f} s | {d[1]['min']:.2f} s | {d[1]['max']:.2f} s |")
print(f"\nThe browser refresh costs {br / form:.1f}x the form login (a browser start and close dominate).")
PY
    exit 0
fi

target=${CARGO_TARGET_DIR:-$PWD/target}
keyfob=$target/$BUILD/keyfob
player=$target/debug/keyfob-browser-player
home=$(mktemp -d)
(
    export HOME=$home AWS_CONFIG_FILE=$home/.aws/config AWS_SHARED_CREDENTIALS_FILE=$home/.aws/credentials
    export KEYFOB_KEYRING=keyutils KEYFOB_KEYCHAIN_SERVICE=keyfob-bench-$$ AWS_ENDPOINT_URL_STS=$KEYFOB_TEST_MOTO_URL
    export KEYFOB_CACHE_DIR=$home/.cache/keyfob KEYFOB_BROWSER=$KEYFOB_TEST_BROWSER
    export KEYFOB_BROWSER_ARGS="--headless=new --no-sandbox --password-store=basic"
    mkdir -p "$home/.aws"
    url=$KEYFOB_TEST_SAML_IDP_URL
    "$keyfob" -q configure saml form --url "$url" --username alice --region us-east-1
    "$keyfob" -q configure saml browser --url "$url" --browser --region us-east-1
    # Every call refreshes: one-hour sessions are always inside a 13-hour window.
    printf 'keyfob_refresh_window = 13h\n' >>"$AWS_CONFIG_FILE"
    echo alicepw | "$keyfob" -q login --profile form --password-stdin
    # The one login a person types: the player types alice's password into the IdP page.
    origin=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(f"{p.scheme}___{p.hostname}_{p.port}")' "$url")
    dir=$KEYFOB_CACHE_DIR/browser/$origin
    echo alicepw | "$player" "$dir" alice &
    "$keyfob" -q login --profile browser
    wait
    "$keyfob" credential-process --profile browser | grep -q '"SessionToken"'
    hyperfine -N --warmup 1 --runs "$RUNS" --export-json bench/results/browser-login.json \
        "$keyfob credential-process --profile browser" "$keyfob -q login --profile form" >&2
    "$keyfob" -q remove browser
    "$keyfob" -q remove form
)
rm -rf "$home"
