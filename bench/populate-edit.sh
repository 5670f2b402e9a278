#!/usr/bin/env bash
# The edit `keyfob populate` makes to the config file (parse + apply the plan + render, in
# process: no network, no file write), 10,000 profiles into a config that already holds 10,000
# sections, on two trees in one invocation: BASE (by default the last commit before the
# config editor indexed its sections, when populate still cut the file apart itself) and the
# working tree. The same bench source (crates/sso/benches/populate_edit.rs) is built into
# both, sharing one target directory (BASE's workspace under version 0.0.1-base, so that the
# two builds stay apart), and the two binaries take turns, ROUNDS times RUNS runs each, so that
# both meet the same machine load.
#
#   ./bench/populate-edit.sh       # BASE=cd28b5a ROUNDS=3 RUNS=15
#
# Prints a markdown table (the samples go to bench/results/populate-edit.tsv). CPU time is the
# thread's own (/proc/thread-self/schedstat): on a shared machine wall time mostly measures the
# wait for a core, and the minimum CPU time is the least disturbed sample.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BASE=${BASE:-cd28b5a} ROUNDS=${ROUNDS:-3} RUNS=${RUNS:-15}
target=${CARGO_TARGET_DIR:-$PWD/target}
results=bench/results
mkdir -p "$results"

base_tree=$(mktemp -d)
trap 'rm -rf "$base_tree"' EXIT
git archive "$BASE" | tar -x -C "$base_tree"
# The bench is newer than BASE: give BASE's tree the same one.
mkdir -p "$base_tree/crates/sso/benches"
cp crates/sso/benches/populate_edit.rs "$base_tree/crates/sso/benches/"
grep -q '^name = "populate_edit"' "$base_tree/crates/sso/Cargo.toml" ||
    printf '\n[[bench]]\nname = "populate_edit"\nharness = false\n' >>"$base_tree/crates/sso/Cargo.toml"

# cargo names (and fingerprints) a path package's artifacts by its name and version, not by
# where its tree lies: under one version, BASE's keyfob-core and bench would overwrite the
# working tree's in the shared target directory, or be taken as up to date for it. BASE's
# workspace gets a version of its own (its lock file follows, offline: only path packages move).
sed -i -E 's/^(version = )"[^"]*"/\1"0.0.1-base"/; s/^(keyfob-[a-z]+ = \{.*version = )"[^"]*"/\1"0.0.1-base"/' \
    "$base_tree/Cargo.toml"

# Builds the bench in tree $1 (with cargo flags $2) and prints the path of its binary.
build() {
    (cd "$1" && CARGO_TARGET_DIR=$target cargo bench $2 -p keyfob-sso --bench populate_edit \
        --no-run --message-format=json) |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "populate_edit" and m.get("executable"):
        print(m["executable"])'
}
base_bin=$(build "$base_tree" --offline)
after_bin=$(build "$PWD" --locked)
[ -x "$base_bin" ] && [ -x "$after_bin" ] && [ "$base_bin" != "$after_bin" ] ||
    { echo "bench build failed" >&2; exit 1; }
if cmp -s "$base_bin" "$after_bin"; then
    echo "BASE and the working tree built the same binary: nothing to compare" >&2
    exit 1
fi

load_start=$(cut -d' ' -f1 /proc/loadavg)
: >"$results/populate-edit.tsv"
for _ in $(seq "$ROUNDS"); do
    "$base_bin" --runs "$RUNS" --raw | sed 's/^/base\t/' >>"$results/populate-edit.tsv"
    "$after_bin" --runs "$RUNS" --raw | sed 's/^/after\t/' >>"$results/populate-edit.tsv"
done
load_end=$(cut -d' ' -f1 /proc/loadavg)

head=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- crates bench || head="$head + changes"
python3 - "$results/populate-edit.tsv" "$BASE" "$head" "$load_start" "$load_end" <<'PY'
import os, statistics, sys
path, base, head, load_start, load_end = sys.argv[1:]
wall, cpu = {}, {}
for line in open(path):
    tree, case, w, c = line.rstrip("\n").split("\t")
    wall.setdefault((case, tree), []).append(float(w))
    if c != "-":
        cpu.setdefault((case, tree), []).append(float(c))
what = {
    "first": "first populate: 10,000 added next to 10,000 hand-written profiles",
    "update": "new --region: 10,000 managed profiles updated in place",
    "rename": "new --name-template: 10,000 added, 10,000 pruned",
    "same": "the same plan again: 10,000 unchanged",
}
def cpu_of(tree, case):
    c = cpu.get((case, tree))
    return f"{statistics.median(c):.1f} ms (min {min(c):.1f})" if c else "-"
n = len(next(iter(wall.values())))
print(f"| populate edit (parse + apply + render), {n} runs each: CPU median (min); wall median | before ({base}) | after ({head}) | ratio (CPU median) |")
print("|---|---|---|---|")
for case in what:
    wb, wa = statistics.median(wall[(case, "base")]), statistics.median(wall[(case, "after")])
    cb, ca = cpu.get((case, "base")), cpu.get((case, "after"))
    ratio = f"{statistics.median(cb) / statistics.median(ca):.1f}x" if cb and ca else "-"
    print(f"| {what[case]} | {cpu_of('base', case)}; {wb:.1f} ms | {cpu_of('after', case)}; {wa:.1f} ms | {ratio} |")
print(f"\n{os.cpu_count()} CPUs; load average {load_start} at the start, {load_end} at the end.")
PY
