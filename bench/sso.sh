#!/usr/bin/env bash
# keyfob against aws-sso-util (PyPI), the peer to beat, on one fake IAM Identity Center
# (keyfob-fake-aws, ACCOUNTS accounts x 3 roles) in one invocation, keyfob on both keychains
# (kernel keyring and Secret Service):
#
#   1. warm `credential-process` for the same account and role: keyfob (release build) on each
#      keychain vs aws-sso-util, medians of KF_RUNS / ASU_RUNS hyperfine runs;
#   2. `populate` vs `aws-sso-util configure populate` of every account x role, with LATENCY_MS
#      added to every call the fake answers, POP_RUNS runs of each (min / median / max);
#   3. CONCURRENT concurrent cold credential requests: how many GetRoleCredentials calls each
#      tool makes (the fake's /_fake/counters, reset in between);
#   4. `populate` again behind the fake's token bucket, the same 429 throttling the tests use
#      (BUCKET_RATE requests a second, bursts of BUCKET_BURST, 429 TooManyRequestsException
#      beyond, on ListAccounts, ListAccountRoles and GetRoleCredentials): each tool's time next
#      to the bucket's floor, (list calls served - burst) / rate, and the 429s it met, POP_RUNS
#      runs of each.
#   The fake's counters must show that both tools made the same calls: none in step 1, the same
#   ListAccounts and ListAccountRoles in every run of step 2, the same list calls served in
#   every run of step 4; the script stops otherwise.
#
#   ./bench/sso.sh    # ACCOUNTS=300 LATENCY_MS=20 KF_RUNS=100 ASU_RUNS=30 CONCURRENT=50
#                     # BUCKET_RATE=20 BUCKET_BURST=10 POP_RUNS=3 BACKENDS="keyutils secret-service"
#
# Prints a markdown table on stdout (bench/README.md has the last one); hyperfine's JSON and
# the counts go to bench/results/. Both tools share one legacy profile (sso_start_url in the
# profile): `keyfob login --profile bench --write-sso-cache` writes the token to
# ~/.aws/sso/cache/<sha1 of the start URL>.json, which is where aws-sso-util looks for it.
# Every keychain entry is under the script's own KEYFOB_KEYCHAIN_SERVICE and removed at the end.
# Needs hyperfine, curl, python3 with venv (aws-sso-util goes into target/venv-bench).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../scripts/lib/peers.sh
. scripts/lib/peers.sh
# shellcheck source=lib.sh
. bench/lib.sh
export ACCOUNTS=${ACCOUNTS:-300} LATENCY_MS=${LATENCY_MS:-20} KF_RUNS=${KF_RUNS:-100} \
    ASU_RUNS=${ASU_RUNS:-30} CONCURRENT=${CONCURRENT:-50} BUCKET_RATE=${BUCKET_RATE:-20} \
    BUCKET_BURST=${BUCKET_BURST:-10} POP_RUNS=${POP_RUNS:-3} \
    BACKENDS=${BACKENDS:-keyutils secret-service}
results=bench/results

if [ "${1:-}" != --inside ]; then
    peers_init
    command -v hyperfine >/dev/null || peers_die "hyperfine not found (apt-get install hyperfine)"
    command -v curl >/dev/null || peers_die "curl not found (apt-get install curl)"
    if [ -z "${KEYFOB_BIN:-}" ]; then
        nice cargo build --release --locked -p keyfob >&2
        KEYFOB_BIN=$BENCH_TARGET/release/keyfob
    fi
    export KEYFOB_BIN
    bench_venv
    bench_start_fake --accounts "$ACCOUNTS" --roles 3
    mkdir -p "$results"
    rm -f "$results"/sso-*.json "$results/sso-runs.jsonl" "$results/sso-counts.txt"
    BENCH_HOME=$PEERS_TMP/home
    export BENCH_HOME
    mkdir -p "$BENCH_HOME/.aws"
    printf 'load=%s\n' "$(cut -d' ' -f1 /proc/loadavg)" >"$results/sso-counts.txt"
    KEYFOB_TEST_REQUIRE_PEERS=1 scripts/peers/keychain-session "$0" --inside
    printf 'load_end=%s\n' "$(cut -d' ' -f1 /proc/loadavg)" >>"$results/sso-counts.txt"
    python3 - "$results" <<'PY'
import json, os, statistics, sys
r = sys.argv[1]
env = os.environ
backends = env["BACKENDS"].split()
counts = dict(l.strip().split("=", 1) for l in open(f"{r}/sso-counts.txt") if "=" in l)
runs = [json.loads(l) for l in open(f"{r}/sso-runs.jsonl")]
hf = lambda name: json.load(open(f"{r}/sso-{name}.json"))["results"]
tools = [f"keyfob-{b}" for b in backends] + ["aws-sso-util"]
title = {"keyfob-keyutils": "keyfob, kernel keyring", "keyfob-secret-service": "keyfob, Secret Service",
         "aws-sso-util": "aws-sso-util 4.33"}
rate, burst = float(env["BUCKET_RATE"]), int(env["BUCKET_BURST"])

def spread(values, fmt):
    values = sorted(values)
    med = statistics.median(values)
    return med, f"{fmt(med)} ({fmt(values[0])}–{fmt(values[-1])})"

print("| benchmark | " + " | ".join(title[t] for t in tools) + " | aws-sso-util ÷ keyfob (kernel keyring) |")
print("|---|" + "---|" * len(tools) + "---|")

# 1. warm credential-process
cells, med = [], {}
for t in tools:
    x = hf(f"{t}-credential-process")[0]
    med[t] = x["median"] * 1000
    cells.append(f"{med[t]:.2f} ms" if t != "aws-sso-util" else f"{med[t]:.0f} ms")
print(f"| warm `credential-process`, median of {env['KF_RUNS']} runs (aws-sso-util {env['ASU_RUNS']}) | "
      + " | ".join(cells) + f" | {med['aws-sso-util'] / med[tools[0]]:.0f}x |")

# 2 and 4. populate, unthrottled and behind the bucket
n = int(env["POP_RUNS"])
for step, label in [("populate", f"`populate`, {env['ACCOUNTS']} accounts x 3 roles, {env['LATENCY_MS']} ms per call: "
                                 f"median (min–max) of {n} runs; list calls made"),
                    ("bucket", f"`populate` behind a token bucket ({env['BUCKET_RATE']}/s, burst {burst}), same org and latency: "
                               f"median (min–max) of {n} runs, × the bucket's floor; 429s met")]:
    cells, med = [], {}
    for t in tools:
        mine = [x for x in runs if x["step"] == step and x["tool"] == t]
        m, text = spread([x["seconds"] for x in mine], lambda v: f"{v:.2f} s" if v < 10 else f"{v:.1f} s")
        med[t] = m
        if step == "populate":
            calls = {x["ListAccounts"] + x["ListAccountRoles"] for x in mine}
            text += f"; {'/'.join(map(str, sorted(calls)))} calls"
        else:
            served = mine[0]["ListAccounts"] + mine[0]["ListAccountRoles"] - mine[0]["Throttled"]
            floor = max(served - burst, 0) / rate
            _, x_floor = spread([x["seconds"] / floor for x in mine], lambda v: f"{v:.2f}×")
            _, thr = spread([x["Throttled"] for x in mine], lambda v: f"{v:.0f}")
            text += f"; {x_floor} the floor of {floor:.2f} s ({served} calls served); {thr} 429s"
        cells.append(text)
    print(f"| {label} | " + " | ".join(cells) + f" | {med['aws-sso-util'] / med[tools[0]]:.1f}x |")

# 3. concurrent cold requests
cells = [counts[f"{t}_concurrent_calls"] for t in tools]
kf = max(int(cells[0]), 1)
print(f"| {env['CONCURRENT']} concurrent cold credential requests: GetRoleCredentials calls | "
      + " | ".join(cells) + f" | {int(cells[-1]) / kf:.0f}x fewer |")
print()
version = ", ".join(f"{hf(f'keyfob-{b}-credential-process')[1]['median'] * 1000:.2f} ms ({b})" for b in backends)
print(f"Same run: `keyfob --version` (keyfob starting and running keyfob-engine, median) took {version}. "
      f"Both tools made the same calls in every populate run (the fake's counters). "
      f"{os.cpu_count()} CPUs; load average {counts['load']} at the start, {counts['load_end']} at the end.")
PY
    exit 0
fi

# ------------------------------------------------------------------------------------------
# Inside a fresh session keyring and a private D-Bus with gnome-keyring.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_REGION AWS_DEFAULT_REGION AWS_ACCESS_KEY_ID \
    AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL KEYFOB_CACHE_DIR KEYFOB_COMMAND
keyfob=$KEYFOB_BIN
asu=$BENCH_VENV/bin/aws-sso-util
export HOME=$BENCH_HOME PATH="$(dirname "$keyfob"):$PATH" AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=$HOME/.aws/config AWS_SHARED_CREDENTIALS_FILE=$HOME/.aws/credentials
export AWS_ENDPOINT_URL_SSO_OIDC=$BENCH_FAKE_URL AWS_ENDPOINT_URL_SSO=$BENCH_FAKE_URL \
    AWS_ENDPOINT_URL_STS=$BENCH_FAKE_URL
export KEYFOB_KEYCHAIN_SERVICE=keyfob-bench-sso-$$
export BROWSER=$PWD/tests/data/browser.sh
log() { printf '[bench] %s\n' "$*" >&2; }
for backend in $BACKENDS; do
    case $backend in
    keyutils) [ "${KEYFOB_TEST_KEYUTILS:-}" = 1 ] || peers_die "the kernel keyring does not work here" ;;
    secret-service) [ "${KEYFOB_TEST_SECRET_SERVICE:-}" = 1 ] || peers_die "the Secret Service does not work here" ;;
    *) peers_die "BACKENDS: unknown keychain $backend (keyutils, secret-service)" ;;
    esac
done
cleanup() {
    for backend in $BACKENDS; do
        KEYFOB_KEYRING=$backend "$keyfob" -q logout --all >/dev/null 2>&1 || true
        KEYFOB_KEYRING=$backend "$keyfob" -q remove bench >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT

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

# One run of TOOL (keyfob-BACKEND or aws-sso-util) for STEP: `populate` into a fresh copy of
# the config, timed by hyperfine, with the fake's counters of that run appended to
# sso-runs.jsonl.
populate_once() {
    local step=$1 tool=$2 run=$3 config cmd json
    config=$HOME/.aws/config-$step-$tool-$run
    printf '%s\n' "$base_config" >"$config"
    if [ "$tool" = aws-sso-util ]; then
        cmd="$asu configure populate --sso-start-url $start_url --sso-region eu-west-1 --region eu-west-1"
    else
        cmd="$keyfob populate --sso-session bench --region eu-west-1"
    fi
    json=$results/sso-$step-$tool-$run.json
    fake reset # counters, and a full bucket
    KEYFOB_KEYRING=${tool#keyfob-} AWS_CONFIG_FILE=$config hyperfine -N --runs 1 --export-json "$json" "$cmd" >&2
    local profiles
    profiles=$(grep -c '^\[profile ' "$config")
    [ "$profiles" = $((ACCOUNTS * 3 + 1)) ] || peers_die "$step: $tool wrote $profiles profiles"
    rm -f "$config"
    curl -fsS "$BENCH_FAKE_URL/_fake/counters" | python3 -c '
import json, sys
step, tool, run, path = sys.argv[1:]
c = json.load(sys.stdin)
seconds = json.load(open(path))["results"][0]["median"]
keys = ["ListAccounts", "ListAccountRoles", "Throttled", "GetRoleCredentials"]
print(json.dumps({"step": step, "tool": tool, "run": int(run), "seconds": seconds, **{k: c[k] for k in keys}}))
' "$step" "$tool" "$run" "$json" >>"$results/sso-runs.jsonl"
}

tools=()
first=1
for backend in $BACKENDS; do
    tools+=("keyfob-$backend")
    log "$backend: signing in (device flow for the shared legacy profile, PKCE for the sso-session)"
    # The first sign-in also writes ~/.aws/sso/cache, where aws-sso-util finds the token.
    KEYFOB_KEYRING=$backend "$keyfob" -q login --profile bench $([ "$first" = 1 ] && echo --write-sso-cache)
    KEYFOB_KEYRING=$backend "$keyfob" -q login --sso-session bench
    first=0
done
tools+=(aws-sso-util)

log "1. warm credential-process"
for backend in $BACKENDS; do
    KEYFOB_KEYRING=$backend "$keyfob" credential-process --profile bench | grep -q '"SessionToken"'
done
"$asu" credential-process --profile bench | grep -q '"SessionToken"'
fake reset
for backend in $BACKENDS; do
    # `keyfob --version` in the same run: the cost of starting the binary at all, on this
    # machine at this moment (the rest is keyfob's work).
    KEYFOB_KEYRING=$backend hyperfine -N --warmup 5 --runs "$KF_RUNS" \
        --export-json "$results/sso-keyfob-$backend-credential-process.json" \
        "$keyfob credential-process --profile bench" "$keyfob --version" >&2
done
hyperfine -N --warmup 3 --runs "$ASU_RUNS" --export-json "$results/sso-aws-sso-util-credential-process.json" \
    "$asu credential-process --profile bench" >&2
warm_calls=$(counter GetRoleCredentials CreateToken)
[ "$warm_calls" = 0 ] || peers_die "a warm run called the fake $warm_calls times"

log "2. populate, $ACCOUNTS accounts x 3 roles, ${LATENCY_MS} ms per call, $POP_RUNS runs each"
fake config "{\"latency_ms\": $LATENCY_MS}"
for run in $(seq "$POP_RUNS"); do
    for tool in "${tools[@]}"; do
        populate_once populate "$tool" "$run"
    done
done

log "3. $CONCURRENT concurrent cold credential requests"
for tool in "${tools[@]}"; do
    if [ "$tool" = aws-sso-util ]; then
        rm -f "$HOME"/.aws/cli/cache/*.json
        cmd=("$asu" credential-process --profile bench)
    else
        export KEYFOB_KEYRING=${tool#keyfob-}
        "$keyfob" -q remove bench
        cmd=("$keyfob" credential-process --profile bench)
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
    printf '%s_concurrent_calls=%s\n' "$tool" "$(counter GetRoleCredentials)" >>"$results/sso-counts.txt"
done
unset KEYFOB_KEYRING

log "4. populate behind a token bucket: ${BUCKET_RATE}/s, burst ${BUCKET_BURST}, $POP_RUNS runs each"
fake config "{\"latency_ms\": $LATENCY_MS, \"rate_limit\": {\"rate\": $BUCKET_RATE, \"burst\": $BUCKET_BURST}}"
for run in $(seq "$POP_RUNS"); do
    for tool in "${tools[@]}"; do
        populate_once bucket "$tool" "$run"
    done
done
fake config '{"latency_ms": 0, "rate_limit": null}'

# Both tools made the same calls: the same list calls in every unthrottled run, the same list
# calls served (sent - throttled) in every run behind the bucket.
python3 - "$results/sso-runs.jsonl" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
plain = {(x["ListAccounts"], x["ListAccountRoles"]) for x in runs if x["step"] == "populate"}
served = {x["ListAccounts"] + x["ListAccountRoles"] - x["Throttled"] for x in runs if x["step"] == "bucket"}
throttled = [x["Throttled"] for x in runs if x["step"] == "populate"]
if len(plain) != 1 or len(served) != 1 or any(throttled):
    sys.exit(f"[bench] error: the tools made different calls: {runs}")
PY

cleanup
trap - EXIT
# Nothing of ours left in either keychain.
left=$(keyctl show @s 2>/dev/null | grep -F "@$KEYFOB_KEYCHAIN_SERVICE" || true)
if [[ " $BACKENDS " == *" secret-service "* ]]; then
    left+=$(secret-tool search --all service "$KEYFOB_KEYCHAIN_SERVICE" 2>/dev/null | grep '^label = ' || true)
fi
[ -z "$left" ] || peers_die "entries left under $KEYFOB_KEYCHAIN_SERVICE: $left"
