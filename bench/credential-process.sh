#!/usr/bin/env bash
# Median wall time of a cached `keyfob credential-process` (an MFA session already in the
# keychain) over 100 runs of the release build, with the kernel keyring and with the Secret
# Service, next to `python3 -c pass` measured in the same run. Needs hyperfine (Debian package).
#
#   ./bench/credential-process.sh        # RUNS=100 by default
#
# Prints a markdown table; raw hyperfine JSON goes to bench/results/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../scripts/lib/peers.sh
. scripts/lib/peers.sh
export RUNS=${RUNS:-100}

if [ "${1:-}" != --inside ]; then
    peers_init
    cargo build --release --locked -p keyfob >&2
    peers_venv .venv
    peers_start_moto .venv
    mkdir -p bench/results
    # Both keychains, fresh, in one session (the same wrapper the tests use).
    KEYFOB_TEST_REQUIRE_PEERS=1 scripts/peers/keychain-session "$0" --inside
    python3 - "$RUNS" <<'PY'
import json, sys
print(f"| keychain | cached `keyfob credential-process` (median of {sys.argv[1]}) | `python3 -c pass` (same run) | ratio |")
print("|---|---|---|---|")
for b in ["keyutils", "secret-service"]:
    d = json.load(open(f"bench/results/credential-process-{b}.json"))["results"]
    kf, py = d[0]["median"] * 1000, d[1]["median"] * 1000
    print(f"| {b} | {kf:.2f} ms | {py:.2f} ms | {py / kf:.1f}x faster than starting Python |")
PY
    exit 0
fi

keyfob=${CARGO_TARGET_DIR:-$PWD/target}/release/keyfob
# The interpreter itself, not a version-manager shim in front of it (pyenv's is a shell script).
python=$(python3 -c 'import sys; print(sys.executable)')
for backend in keyutils secret-service; do
    home=$(mktemp -d)
    (
        export HOME=$home AWS_CONFIG_FILE=$home/.aws/config AWS_SHARED_CREDENTIALS_FILE=$home/.aws/credentials
        export KEYFOB_KEYRING=$backend KEYFOB_KEYCHAIN_SERVICE=keyfob-bench-$$ AWS_ENDPOINT_URL_STS=$KEYFOB_TEST_MOTO_URL
        mkdir -p "$home/.aws"
        printf '[profile bench]\nmfa_serial = arn:aws:iam::111122223333:mfa/bench\nregion = us-east-1\n' >"$AWS_CONFIG_FILE"
        printf 'AKIAIOSFODNN7EXAMPLE\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n' | "$keyfob" -q add bench --from-stdin --yes
        "$keyfob" -q login --profile bench --mfa-code 123456
        "$keyfob" credential-process --profile bench | grep -q '"SessionToken"'
        hyperfine -N --warmup 5 --runs "$RUNS" --export-json "bench/results/credential-process-$backend.json" \
            "$keyfob credential-process --profile bench" "$python -c pass" >&2
        "$keyfob" -q remove bench
    )
    rm -rf "$home"
done
