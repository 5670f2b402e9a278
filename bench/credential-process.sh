#!/usr/bin/env bash
# A cached `keyfob credential-process --profile p0` (an IAM Identity Center role profile whose
# role credentials are in the keychain) on the kernel keyring and on the Secret Service, in one
# hyperfine run per keychain next to:
#   - the floor: bench/hello, a hello-world Rust binary built with keyfob's [profile.release];
#   - `keyfob --version`: keyfob handing a command to keyfob-engine, and `keyfob-engine
#     --version`, the whole of keyfob starting (keyfob_core::programs: a cache hit is answered
#     by keyfob alone);
#   - the peer doing the same job on the same profile: `aws-sso-util credential-process`
#     (PyPI, pinned in bench/requirements.txt), its role credentials warm in ~/.aws/cli/cache.
#     (Debian's AWS CLI v2.9, `aws configure export-credentials`, cannot be the peer here: it
#     keeps SSO role credentials in memory only, so every call is a GetRoleCredentials, and it
#     predates AWS_ENDPOINT_URL_SSO, so that call would go to the real portal.)
# One keyfob-fake-aws serves the sign-in and the first GetRoleCredentials; its counters show
# that no timed run called it.
#
#   ./bench/credential-process.sh    # RUNS=200 WARMUP=20 ASU_RUNS=20
#                                    # BACKENDS="keyutils secret-service"
#   BENCH_EXTRA="before=/tmp/keyfob-old thin=/tmp/keyfob-thin" ./bench/credential-process.sh
#                                    # more keyfob binaries (label=path) in the same hyperfine
#                                    # run, each with its own profile and cache entries
#   KEYFOB_BIN=/path/to/keyfob       # measure that binary instead of building this tree
#   HELLO_BIN=/path/to/hello         # likewise for the floor (built as bench/lib.sh does)
#
# Prints a markdown table on stdout; hyperfine's JSON goes to bench/results/. Every keychain
# entry it writes is under its own KEYFOB_KEYCHAIN_SERVICE, removed at the end (and checked).
# Needs hyperfine, curl, keyutils, gnome-keyring, dbus, libsecret-tools, python3-venv.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../scripts/lib/peers.sh
. scripts/lib/peers.sh
# shellcheck source=lib.sh
. bench/lib.sh
export RUNS=${RUNS:-200} WARMUP=${WARMUP:-20} ASU_RUNS=${ASU_RUNS:-20} \
    BACKENDS=${BACKENDS:-keyutils secret-service} BENCH_EXTRA=${BENCH_EXTRA:-}
results=bench/results

if [ "${1:-}" != --inside ]; then
    peers_init
    command -v hyperfine >/dev/null || peers_die "hyperfine not found (apt-get install hyperfine)"
    command -v curl >/dev/null || peers_die "curl not found (apt-get install curl)"
    if [ -z "${KEYFOB_BIN:-}" ]; then
        nice cargo build --release --locked -p keyfob >&2
        KEYFOB_BIN=$BENCH_TARGET/release/keyfob
    fi
    [ -x "$KEYFOB_BIN" ] || peers_die "KEYFOB_BIN=$KEYFOB_BIN is not a program"
    for extra in $BENCH_EXTRA; do
        [ -x "${extra#*=}" ] || peers_die "BENCH_EXTRA: ${extra#*=} ($extra) is not a program"
    done
    bench_build_hello
    bench_venv
    bench_start_fake --accounts 3 --roles 3
    mkdir -p "$results"
    BENCH_HOME=$PEERS_TMP/home
    export BENCH_HOME KEYFOB_BIN
    mkdir -p "$BENCH_HOME/.aws"
    printf 'load=%s\n' "$(cut -d' ' -f1 /proc/loadavg)" >"$results/credential-process-load.txt"
    KEYFOB_TEST_REQUIRE_PEERS=1 scripts/peers/keychain-session "$0" --inside
    printf 'load_end=%s\n' "$(cut -d' ' -f1 /proc/loadavg)" >>"$results/credential-process-load.txt"
    python3 - "$results" <<'PY'
import json, os, sys
r = sys.argv[1]
backends = os.environ["BACKENDS"].split()
load = dict(l.strip().split("=", 1) for l in open(f"{r}/credential-process-load.txt"))
runs = {}
for b in backends:
    fast = json.load(open(f"{r}/credential-process-{b}.json"))["results"]
    peer = json.load(open(f"{r}/credential-process-{b}-aws-sso-util.json"))["results"]
    runs[b] = {x["command"]: x for x in fast + peer}
labels = json.load(open(f"{r}/credential-process-labels.json"))
head = "| command |" + "".join(f" {b}: median (min) | × hello |" for b in backends)
print(head)
print("|---|" + "---|---|" * len(backends))
for command, label in labels:
    cells = []
    for b in backends:
        x, hello = runs[b][command], runs[b][labels[0][0]]
        cells.append(f" {x['median'] * 1000:.2f} ms ({x['min'] * 1000:.2f}) | {x['median'] / hello['median']:.2f}× |")
    print(f"| {label} |" + "".join(cells))
print()
print(f"hyperfine -N, {os.environ['WARMUP']} warm-up runs, then {os.environ['RUNS']} runs "
      f"({os.environ['ASU_RUNS']} for aws-sso-util); {os.cpu_count()} CPUs, load average "
      f"{load['load']} at the start, {load['load_end']} at the end.")
PY
    exit 0
fi

# ------------------------------------------------------------------------------------------
# Inside a fresh session keyring and a private D-Bus with gnome-keyring.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_REGION AWS_DEFAULT_REGION AWS_ACCESS_KEY_ID \
    AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL KEYFOB_CACHE_DIR KEYFOB_COMMAND
hello=$HELLO_BIN
asu=$BENCH_VENV/bin/aws-sso-util
export HOME=$BENCH_HOME AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=$HOME/.aws/config AWS_SHARED_CREDENTIALS_FILE=$HOME/.aws/credentials
export AWS_ENDPOINT_URL_SSO_OIDC=$BENCH_FAKE_URL AWS_ENDPOINT_URL_SSO=$BENCH_FAKE_URL \
    AWS_ENDPOINT_URL_STS=$BENCH_FAKE_URL
export BROWSER=$PWD/tests/data/browser.sh
log() { printf '[bench] %s\n' "$*" >&2; }

# Every keyfob binary gets its own profile (p0 is this tree's), so that binaries that store
# their entries differently (an older keyfob) do not evict each other's.
bins=("$KEYFOB_BIN")
names=("keyfob")
for extra in $BENCH_EXTRA; do
    bins+=("${extra#*=}")
    names+=("keyfob ${extra%%=*}")
done
start_url=$BENCH_FAKE_URL/start
for i in "${!bins[@]}"; do
    printf '[profile p%s]\nsso_start_url = %s\nsso_region = eu-west-1\nsso_account_id = 111100000001\nsso_role_name = Admin\nregion = eu-west-1\n\n' \
        "$i" "$start_url"
done >"$AWS_CONFIG_FILE"

commands=("$hello" "$KEYFOB_BIN --version")
labels=("hello-world (bench/hello, keyfob's release profile): the floor" "\`keyfob --version\` (keyfob runs keyfob-engine)")
# The whole of keyfob starting (keyfob_core::programs), when this keyfob has an engine.
engine=$(dirname "$KEYFOB_BIN")/keyfob-engine
if [ -x "$engine" ]; then
    commands+=("$engine --version")
    labels+=("\`keyfob-engine --version\`: starting the whole of keyfob")
fi
for i in "${!bins[@]}"; do
    commands+=("${bins[$i]} credential-process --profile p$i")
    labels+=("cached \`${names[$i]} credential-process\`")
done
asu_command="$asu credential-process --profile p0"
python3 - "${commands[@]}" "$asu_command" -- "${labels[@]}" \
    "cached \`aws-sso-util credential-process\` ($("$asu" --version 2>/dev/null | head -1 || echo aws-sso-util))" \
    >"$results/credential-process-labels.json" <<'PY'
import json, sys
args = sys.argv[1:]
cut = args.index("--")
print(json.dumps(list(zip(args[:cut], args[cut + 1:]))))
PY

# What keyfob left under SERVICE in the keychain BACKEND (nothing, after the cleanup).
leftovers() {
    local backend=$1 service=$2
    if [ "$backend" = keyutils ]; then
        keyctl show @s 2>/dev/null | grep -F "@$service" || true
    else
        secret-tool search --all service "$service" 2>/dev/null | grep '^label = ' || true
    fi
}
cleanup() {
    local i
    for i in "${!bins[@]}"; do
        "${bins[$i]}" -q logout --all >/dev/null 2>&1 || true
        "${bins[$i]}" -q remove "p$i" >/dev/null 2>&1 || true
    done
}

for backend in $BACKENDS; do
    case $backend in
    keyutils) [ "${KEYFOB_TEST_KEYUTILS:-}" = 1 ] || peers_die "the kernel keyring does not work here" ;;
    secret-service) [ "${KEYFOB_TEST_SECRET_SERVICE:-}" = 1 ] || peers_die "the Secret Service does not work here" ;;
    *) peers_die "BACKENDS: unknown keychain $backend (keyutils, secret-service)" ;;
    esac
    export KEYFOB_KEYRING=$backend KEYFOB_KEYCHAIN_SERVICE=keyfob-bench-cp-$$-$backend
    trap cleanup EXIT
    log "$backend: signing in and warming every cache"
    for i in "${!bins[@]}"; do
        # p0's sign-in also writes ~/.aws/sso/cache, where aws-sso-util finds the token.
        "${bins[$i]}" -q login --profile "p$i" $([ "$i" = 0 ] && echo --write-sso-cache)
        "${bins[$i]}" credential-process --profile "p$i" | grep -q '"SessionToken"'
    done
    "$asu" credential-process --profile p0 | grep -q '"SessionToken"'
    # Each once more: served from the caches by now.
    fake reset
    for i in "${!bins[@]}"; do
        "${bins[$i]}" credential-process --profile "p$i" | grep -q '"SessionToken"'
    done
    "$asu" credential-process --profile p0 | grep -q '"SessionToken"'
    "$hello" | grep -q 'hello, world'
    calls=$(counter GetRoleCredentials CreateToken)
    [ "$calls" = 0 ] || peers_die "$backend: a warm call reached the fake $calls times"

    log "$backend: timing"
    hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$results/credential-process-$backend.json" \
        "${commands[@]}" >&2
    hyperfine -N --warmup 3 --runs "$ASU_RUNS" \
        --export-json "$results/credential-process-$backend-aws-sso-util.json" "$asu_command" >&2
    calls=$(counter GetRoleCredentials CreateToken)
    [ "$calls" = 0 ] || peers_die "$backend: timed runs reached the fake $calls times (not all cache hits)"

    cleanup
    trap - EXIT
    left=$(leftovers "$backend" "$KEYFOB_KEYCHAIN_SERVICE")
    [ -z "$left" ] || peers_die "$backend: entries left under $KEYFOB_KEYCHAIN_SERVICE: $left"
    rm -f "$HOME"/.aws/cli/cache/*.json "$HOME"/.aws/sso/cache/*.json
done
