# shellcheck shell=bash
# What the bench scripts share, on top of scripts/lib/peers.sh (source that first):
#
#   bench_venv                  # aws-sso-util (bench/requirements.txt) in $BENCH_VENV
#   bench_build_hello           # bench/hello with keyfob's [profile.release]
#   bench_start_fake ARGS...    # keyfob-fake-aws on loopback; exports BENCH_FAKE_URL
#   fake reset|config JSON      # the fake's control routes (inside a bench)
#   counter OP...               # the sum of the fake's counters for OP...
#
# Functions are prefixed `bench_` (and the two short helpers the scripts call often).

BENCH_TARGET=${CARGO_TARGET_DIR:-$PWD/target}
# The peer's own venv, under the (git-ignored) target directory: only the benchmarks need it.
BENCH_VENV=$BENCH_TARGET/venv-bench
export BENCH_TARGET BENCH_VENV

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

# keyfob's [profile.release] from the top-level Cargo.toml, as `--config` arguments (one a line).
bench_release_profile() {
    python3 - <<'PY'
import json, tomllib
profile = tomllib.load(open("Cargo.toml", "rb"))["profile"]["release"]
for key, value in profile.items():
    if isinstance(value, dict):
        raise SystemExit(f"[profile.release.{key}] is a table: bench_release_profile passes plain keys only")
    print("--config")
    print(f"profile.release.{key}={json.dumps(value)}")
PY
}

# Builds bench/hello (its own workspace, so that CI's workspace build does not grow) with
# keyfob's release profile, into the same target directory, and exports HELLO_BIN
# ($BENCH_TARGET/release/hello). A HELLO_BIN already set is used as it is.
bench_build_hello() {
    if [ -n "${HELLO_BIN:-}" ]; then
        [ -x "$HELLO_BIN" ] || peers_die "HELLO_BIN=$HELLO_BIN is not a program"
        return 0
    fi
    local flags
    mapfile -t flags < <(bench_release_profile)
    [ ${#flags[@]} -gt 0 ] || peers_die "no [profile.release] in Cargo.toml"
    CARGO_TARGET_DIR=$BENCH_TARGET nice cargo build --release --locked --manifest-path bench/hello/Cargo.toml \
        "${flags[@]}" >&2
    HELLO_BIN=$BENCH_TARGET/release/hello
    export HELLO_BIN
}

# Starts keyfob-fake-aws (a debug build of the tests crate's binary) with ARGS on a free
# loopback port, stopped by peers_cleanup; exports BENCH_FAKE_URL.
bench_start_fake() {
    nice cargo build --locked -p keyfob-tests --bin keyfob-fake-aws >&2
    local fake_bin=$BENCH_TARGET/debug/keyfob-fake-aws
    "$fake_bin" --port 0 --port-file "$PEERS_TMP/fake.port" "$@" </dev/null >"$PEERS_TMP/fake.log" 2>&1 &
    PEERS_PIDS+=("$!")
    for _ in $(seq 200); do
        [ -s "$PEERS_TMP/fake.port" ] && break
        sleep 0.05
    done
    [ -s "$PEERS_TMP/fake.port" ] || peers_die "the fake did not start: $(cat "$PEERS_TMP/fake.log")"
    BENCH_FAKE_URL="http://127.0.0.1:$(cat "$PEERS_TMP/fake.port")"
    export BENCH_FAKE_URL
}

# POST /_fake/OP (reset, config…) with an optional JSON body.
fake() { curl -fsS -X POST "$BENCH_FAKE_URL/_fake/$1" ${2:+-H 'content-type: application/json' -d "$2"} >/dev/null; }

# The sum of the fake's counters named by the arguments (GetRoleCredentials, Throttled…).
counter() {
    curl -fsS "$BENCH_FAKE_URL/_fake/counters" |
        python3 -c 'import json, sys; c = json.load(sys.stdin); print(sum(c[k] for k in sys.argv[1:]))' "$@"
}
