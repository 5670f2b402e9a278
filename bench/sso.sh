#!/usr/bin/env bash
# keyfob against aws-sso-util (PyPI), the peer to beat, on one fake IAM Identity Center
# (keyfob-fake-aws, ACCOUNTS accounts x 3 roles) in one invocation:
#
#   1. warm `credential-process` for the same account and role: keyfob (release build, kernel
#      keyring) vs aws-sso-util, medians of KF_RUNS / ASU_RUNS hyperfine runs;
#   2. `populate` vs `aws-sso-util configure populate` of every account x role, with LATENCY_MS
#      added to every call the fake answers (one run each);
#   3. CONCURRENT concurrent cold credential requests: how many GetRoleCredentials calls each
#      tool makes (the fake's /_fake/counters, reset in between);
#   4. `populate` again, behind the fake's token bucket on the portal calls (BUCKET_RATE
#      requests a second, bursts of BUCKET_BURST, 429 TooManyRequestsException beyond): each
#      tool's time next to the bucket's floor, (list calls served - burst) / rate, and the 429s
#      it met. ASU_BUCKET=0 leaves aws-sso-util out of this step (it takes about a minute).
#
#   ./bench/sso.sh          # ACCOUNTS=300 LATENCY_MS=20 KF_RUNS=100 ASU_RUNS=30 CONCURRENT=50
#                           # BUCKET_RATE=20 BUCKET_BURST=10 ASU_BUCKET=1
#
# Prints a markdown table on stdout (bench/README.md has the last one); hyperfine's JSON and
# the counts go to bench/results/. Both tools share one legacy profile (sso_start_url in the
# profile): `keyfob login --profile bench --write-sso-cache` writes the token to
# ~/.aws/sso/cache/<sha1 of the start URL>.json, which is where aws-sso-util looks for it.
# Needs hyperfine, curl, python3 with venv (aws-sso-util goes into target/venv-bench).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../scripts/lib/peers.sh
. scripts/lib/peers.sh
export ACCOUNTS=${ACCOUNTS:-300} LATENCY_MS=${LATENCY_MS:-20} KF_RUNS=${KF_RUNS:-100} \
    ASU_RUNS=${ASU_RUNS:-30} CONCURRENT=${CONCURRENT:-50} BUCKET_RATE=${BUCKET_RATE:-20} \
    BUCKET_BURST=${BUCKET_BURST:-10} ASU_BUCKET=${ASU_BUCKET:-1}
results=bench/results

# The peer's own venv, under the (git-ignored) target directory: only this script needs it.
BENCH_VENV=${CARGO_TARGET_DIR:-$PWD/target}/venv-bench
export BENCH_VENV

# Makes (or reuses) $BENCH_VENV with bench/requirements.txt, as peers_venv does for .venv.
bench_venv() {
    local dir=$BENCH_VENV req=bench/requirements.txt
    if [ -x "$dir/bin/aws-sso-util" ] && cmp -s "$req" "$dir/.keyfob-requirements.txt"; then
        return 0
    fi
    rm -rf "$dir"
    peers_log "creating $dir with $(grep -v '^#' "$req" | xargs)"
    python3 -m venv "$dir" || peers_die "'python3 -m venv' failed: on Debian, apt-get install python3-venv"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$req" ||
        peers_die "pip install into $dir failed"
    cp "$req" "$dir/.keyfob-requirements.txt"
}

if [ "${1:-}" != --inside ]; then
    peers_init
    command -v hyperfine >/dev/null || peers_die "hyperfine not found (apt-get install hyperfine)"
    command -v curl >/dev/null || peers_die "curl not found (apt-get install curl)"
    cargo build --release --locked -p keyfob >&2
    cargo build --locked -p keyfob-tests --bin keyfob-fake-aws >&2
    bench_venv
    mkdir -p "$results"
    fake_bin=${CARGO_TARGET_DIR:-$PWD/target}/debug/keyfob-fake-aws
    "$fake_bin" --port 0 --accounts "$ACCOUNTS" --roles 3 --port-file "$PEERS_TMP/fake.port" \
        </dev/null >"$PEERS_TMP/fake.log" 2>&1 &
    PEERS_PIDS+=("$!")
    for _ in $(seq 200); do
        [ -s "$PEERS_TMP/fake.port" ] && break
        sleep 0.05
    done
    [ -s "$PEERS_TMP/fake.port" ] || peers_die "the fake did not start: $(cat "$PEERS_TMP/fake.log")"
    BENCH_FAKE_URL="http://127.0.0.1:$(cat "$PEERS_TMP/fake.port")"
    BENCH_HOME=$PEERS_TMP/home
    export BENCH_FAKE_URL BENCH_HOME
    mkdir -p "$BENCH_HOME/.aws"
    KEYFOB_TEST_REQUIRE_PEERS=0 scripts/peers/keychain-session "$0" --inside
    python3 - "$results" <<'PY'
import json, os, sys
r = sys.argv[1]
median = lambda name: json.load(open(f"{r}/sso-{name}.json"))["results"][0]["median"]
counts = dict(l.strip().split("=", 1) for l in open(f"{r}/sso-counts.txt") if "=" in l)
env = os.environ
kf_cp, asu_cp = median("keyfob-credential-process") * 1000, median("aws-sso-util-credential-process") * 1000
kf_pop, asu_pop = median("keyfob-populate"), median("aws-sso-util-populate")
kf_calls, asu_calls = int(counts["keyfob_concurrent_calls"]), int(counts["asu_concurrent_calls"])
n, a = env["CONCURRENT"], env["ACCOUNTS"]
print("| benchmark | keyfob | aws-sso-util 4.33 | ratio |")
print("|---|---|---|---|")
print(f"| warm `credential-process`, median (keyfob {env['KF_RUNS']} runs, kernel keyring; aws-sso-util {env['ASU_RUNS']} runs) "
      f"| {kf_cp:.2f} ms | {asu_cp:.0f} ms | {asu_cp / kf_cp:.0f}x faster |")
print(f"| `populate`, {a} accounts x 3 roles, {env['LATENCY_MS']} ms per call (one run; list calls made) "
      f"| {kf_pop:.2f} s ({counts['keyfob_populate_calls']} calls) | {asu_pop:.1f} s ({counts['asu_populate_calls']} calls) "
      f"| {asu_pop / kf_pop:.0f}x faster |")
print(f"| {n} concurrent cold credential requests: GetRoleCredentials calls "
      f"| {kf_calls} | {asu_calls} | {asu_calls / max(kf_calls, 1):.0f}x fewer |")
rate, burst = float(env["BUCKET_RATE"]), int(env["BUCKET_BURST"])
def bucket(tool):
    took = median(f"{tool}-populate-bucket")
    calls, throttled = int(counts[f"{tool}_bucket_calls"]), int(counts[f"{tool}_bucket_throttled"])
    floor = max(calls - throttled - burst, 0) / rate
    return took, floor, throttled, calls
kf_took, floor, kf_429, kf_sent = bucket("keyfob")
kf_cell = f"{kf_took:.1f} s ({kf_took / floor:.2f}x the floor; {kf_429} of {kf_sent} calls throttled)"
if env["ASU_BUCKET"] == "1":
    asu_took, _, asu_429, asu_sent = bucket("asu")
    asu_cell = f"{asu_took:.1f} s ({asu_took / floor:.2f}x the floor; {asu_429} of {asu_sent} calls throttled)"
    ratio = f"{asu_took / kf_took:.1f}x faster"
else:
    asu_cell, ratio = "not run (ASU_BUCKET=0)", ""
print(f"| `populate` behind a token bucket ({env['BUCKET_RATE']}/s, burst {burst}; floor {floor:.2f} s), "
      f"{a} accounts x 3 roles, {env['LATENCY_MS']} ms per call (one run) | {kf_cell} | {asu_cell} | {ratio} |")
floor = json.load(open(f"{r}/sso-keyfob-credential-process.json"))["results"][1]["median"] * 1000
print()
print(f"Same run: starting the keyfob binary at all (`keyfob --version`) took {floor:.2f} ms (median); "
      f"{os.cpu_count()} CPUs; load average {counts['load']} at the start, "
      f"{open('/proc/loadavg').read().split()[0]} at the end.")
PY
    exit 0
fi

# ------------------------------------------------------------------------------------------
# Inside a fresh session keyring (and a private D-Bus with gnome-keyring).
[ "${KEYFOB_TEST_KEYUTILS:-}" = 1 ] || peers_die "the kernel keyring does not work here (keyutils)"
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_REGION AWS_DEFAULT_REGION AWS_ACCESS_KEY_ID \
    AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL KEYFOB_CACHE_DIR
release=${CARGO_TARGET_DIR:-$PWD/target}/release
keyfob=$release/keyfob
asu=$BENCH_VENV/bin/aws-sso-util
export HOME=$BENCH_HOME PATH="$release:$PATH" AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=$HOME/.aws/config AWS_SHARED_CREDENTIALS_FILE=$HOME/.aws/credentials
export AWS_ENDPOINT_URL_SSO_OIDC=$BENCH_FAKE_URL AWS_ENDPOINT_URL_SSO=$BENCH_FAKE_URL \
    AWS_ENDPOINT_URL_STS=$BENCH_FAKE_URL
export KEYFOB_KEYRING=keyutils KEYFOB_KEYCHAIN_SERVICE=keyfob-bench-$$
export BROWSER=$PWD/tests/data/browser.sh
trap '"$keyfob" -q logout --all >/dev/null 2>&1 || true; "$keyfob" -q remove bench >/dev/null 2>&1 || true' EXIT

fake() { curl -fsS -X POST "$BENCH_FAKE_URL/_fake/$1" ${2:+-H 'content-type: application/json' -d "$2"} >/dev/null; }
counter() {
    curl -fsS "$BENCH_FAKE_URL/_fake/counters" |
        python3 -c 'import json, sys; c = json.load(sys.stdin); print(sum(c[k] for k in sys.argv[1:]))' "$@"
}
log() { printf '[bench] %s\n' "$*" >&2; }

start_url=$BENCH_FAKE_URL/start
cat >"$AWS_CONFIG_FILE" <<EOF
[sso-session bench]
sso_start_url = $start_url
sso_region = eu-west-1
sso_registration_scopes = sso:account:access

[profile bench]
sso_start_url = $start_url
sso_region = eu-west-1
sso_account_id = 111100000001
sso_role_name = Admin
region = eu-west-1
EOF
base_config=$(cat "$AWS_CONFIG_FILE")

log "signing in (device flow for the shared legacy profile, PKCE for the sso-session)"
"$keyfob" -q login --profile bench --write-sso-cache
"$keyfob" -q login --sso-session bench
printf 'load=%s\n' "$(cut -d' ' -f1 /proc/loadavg)" >"$results/sso-counts.txt"

log "1. warm credential-process"
"$keyfob" credential-process --profile bench | grep -q '"SessionToken"'
"$asu" credential-process --profile bench | grep -q '"SessionToken"'
fake reset
# `keyfob --version` in the same run: the cost of starting the binary at all, on this machine
# at this moment (the rest is keyfob's work).
hyperfine -N --warmup 5 --runs "$KF_RUNS" --export-json "$results/sso-keyfob-credential-process.json" \
    "$keyfob credential-process --profile bench" "$keyfob --version" >&2
hyperfine -N --warmup 3 --runs "$ASU_RUNS" --export-json "$results/sso-aws-sso-util-credential-process.json" \
    "$asu credential-process --profile bench" >&2
warm_calls=$(counter GetRoleCredentials CreateToken)
[ "$warm_calls" = 0 ] || peers_die "a warm run called the fake $warm_calls times"

log "2. populate, $ACCOUNTS accounts x 3 roles, ${LATENCY_MS} ms per call"
fake config "{\"latency_ms\": $LATENCY_MS}"
for tool in keyfob aws-sso-util; do
    config=$HOME/.aws/config-$tool
    printf '%s\n' "$base_config" >"$config"
    if [ "$tool" = keyfob ]; then
        cmd="$keyfob populate --sso-session bench --region eu-west-1"
    else
        cmd="$asu configure populate --sso-start-url $start_url --sso-region eu-west-1 --region eu-west-1"
    fi
    fake reset
    AWS_CONFIG_FILE=$config hyperfine -N --runs 1 --export-json "$results/sso-$tool-populate.json" "$cmd" >&2
    calls=$(counter ListAccounts ListAccountRoles)
    profiles=$(grep -c '^\[profile ' "$config")
    [ "$profiles" = $((ACCOUNTS * 3 + 1)) ] || peers_die "$tool wrote $profiles profiles"
    printf '%s_populate_calls=%s\n' "${tool/aws-sso-util/asu}" "$calls" >>"$results/sso-counts.txt"
done

log "3. $CONCURRENT concurrent cold credential requests"
for tool in keyfob aws-sso-util; do
    if [ "$tool" = keyfob ]; then
        "$keyfob" -q remove bench
        cmd=("$keyfob" credential-process --profile bench)
    else
        rm -f "$HOME"/.aws/cli/cache/*.json
        cmd=("$asu" credential-process --profile bench)
    fi
    fake reset
    out=$(mktemp -d)
    pids=()
    for i in $(seq "$CONCURRENT"); do
        "${cmd[@]}" >"$out/$i.json" 2>"$out/$i.err" &
        pids+=("$!")
    done
    failed=0
    for pid in "${pids[@]}"; do
        wait "$pid" || failed=$((failed + 1))
    done
    valid=$(grep -l '"Version":1' "$out"/*.json | wc -l)
    if [ "$failed" != 0 ] || [ "$valid" != "$CONCURRENT" ]; then
        peers_die "$tool: $failed of $CONCURRENT failed, $valid valid: $(sort "$out"/*.err | uniq -c)"
    fi
    rm -rf "$out"
    printf '%s_concurrent_calls=%s\n' "${tool/aws-sso-util/asu}" "$(counter GetRoleCredentials)" \
        >>"$results/sso-counts.txt"
done

log "4. populate behind a token bucket: ${BUCKET_RATE}/s, burst ${BUCKET_BURST}"
fake config "{\"latency_ms\": $LATENCY_MS, \"rate_limit\": {\"rate\": $BUCKET_RATE, \"burst\": $BUCKET_BURST}}"
tools=(keyfob)
if [ "$ASU_BUCKET" = 1 ]; then
    tools+=(aws-sso-util)
fi
for tool in "${tools[@]}"; do
    config=$HOME/.aws/config-bucket-$tool
    printf '%s\n' "$base_config" >"$config"
    if [ "$tool" = keyfob ]; then
        cmd="$keyfob populate --sso-session bench --region eu-west-1"
    else
        cmd="$asu configure populate --sso-start-url $start_url --sso-region eu-west-1 --region eu-west-1"
    fi
    fake reset # counters, and a full bucket
    AWS_CONFIG_FILE=$config hyperfine -N --runs 1 --export-json "$results/sso-$tool-populate-bucket.json" "$cmd" >&2
    profiles=$(grep -c '^\[profile ' "$config")
    [ "$profiles" = $((ACCOUNTS * 3 + 1)) ] || peers_die "$tool wrote $profiles profiles behind the bucket"
    short=${tool/aws-sso-util/asu}
    printf '%s_bucket_calls=%s\n%s_bucket_throttled=%s\n' "$short" "$(counter ListAccounts ListAccountRoles)" \
        "$short" "$(counter Throttled)" >>"$results/sso-counts.txt"
done
fake config '{"latency_ms": 0, "rate_limit": null}'
