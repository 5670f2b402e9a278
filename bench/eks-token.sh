#!/usr/bin/env bash
# A cached `keyfob eks-token` against `aws eks get-token` (the AWS CLI v2) for the same profile,
# in one hyperfine run per keychain (kernel keyring, Secret Service). The profile holds an IAM
# user's keys in the keychain and its credential_process is keyfob, so the AWS CLI gets its
# credentials the way it would on a developer's machine; both sign locally (get-token makes
# no network call), so no endpoint is involved. Needs hyperfine and awscli (Debian packages).
#
#   ./bench/eks-token.sh        # RUNS=30 by default; AWS_CLI=/usr/bin/aws
#
# Prints a markdown table; raw hyperfine JSON goes to bench/results/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../scripts/lib/peers.sh
. scripts/lib/peers.sh
export RUNS=${RUNS:-30}
export AWS_CLI=${AWS_CLI:-/usr/bin/aws}

if [ "${1:-}" != --inside ]; then
    case "$("$AWS_CLI" --version 2>/dev/null)" in
    aws-cli/2.*) ;;
    *) peers_die "$AWS_CLI is not the AWS CLI v2: apt-get install awscli, or set AWS_CLI" ;;
    esac
    peers_init
    nice cargo build --release --locked -p keyfob >&2
    mkdir -p bench/results
    # Both keychains, fresh, in one session (the same wrapper the tests use).
    KEYFOB_TEST_REQUIRE_PEERS=1 scripts/peers/keychain-session "$0" --inside
    python3 - "$RUNS" "$("$AWS_CLI" --version | cut -d' ' -f1)" <<'PY'
import json, sys
runs, aws = sys.argv[1], sys.argv[2]
print(f"| keychain | cached `keyfob eks-token` (median of {runs}) | `aws eks get-token`, {aws} (median of {runs}, same run) | ratio |")
print("|---|---|---|---|")
for b in ["keyutils", "secret-service"]:
    d = json.load(open(f"bench/results/eks-token-{b}.json"))["results"]
    kf, cli = d[0]["median"] * 1000, d[1]["median"] * 1000
    print(f"| {b} | {kf:.2f} ms | {cli:.0f} ms | {cli / kf:.0f}x faster |")
PY
    exit 0
fi

keyfob=${CARGO_TARGET_DIR:-$PWD/target}/release/keyfob
for backend in keyutils secret-service; do
    home=$(mktemp -d)
    (
        export HOME=$home AWS_CONFIG_FILE=$home/.aws/config AWS_SHARED_CREDENTIALS_FILE=$home/.aws/credentials
        export KEYFOB_KEYRING=$backend KEYFOB_KEYCHAIN_SERVICE=keyfob-bench-eks-$$ KEYFOB_COMMAND=$keyfob
        export AWS_PAGER=""
        mkdir -p "$home/.aws"
        printf '[profile bench]\nregion = eu-west-1\n' >"$AWS_CONFIG_FILE"
        printf 'AKIAIOSFODNN7EXAMPLE\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n' | "$keyfob" -q add bench --from-stdin --yes
        grep -q "credential_process = $keyfob credential-process --profile bench" "$AWS_CONFIG_FILE"
        # Warm the cache, and check that the next call is served from it and that the AWS CLI
        # works with this profile.
        first=$("$keyfob" eks-token --cluster bench --profile bench)
        [ "$("$keyfob" eks-token --cluster bench --profile bench)" = "$first" ]
        "$AWS_CLI" eks get-token --cluster-name bench --profile bench | grep -q '"token": "k8s-aws-v1\.'
        hyperfine -N --warmup 3 --runs "$RUNS" --export-json "bench/results/eks-token-$backend.json" \
            "$keyfob eks-token --cluster bench --profile bench" \
            "$AWS_CLI eks get-token --cluster-name bench --profile bench" >&2
        [ "$("$keyfob" eks-token --cluster bench --profile bench)" = "$first" ]
        "$keyfob" -q remove bench
    )
    rm -rf "$home"
done
