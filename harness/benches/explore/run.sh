#!/usr/bin/env bash
# The planted-bug benchmark of `harness explore` (issue 20).
#
# Each patch in bugs/ plants one bug of the kind firmware teams ship (a
# persist forgotten, a threshold off by one, a check dropped, a state not
# cleared) in a scratch copy of the repository. The harness is built with
# that firmware linked into its sim rig, `harness explore` runs on it with
# a fixed budget and seed, and the first finding's repro is run again with
# `harness run` (it must exit 1). The unmodified firmware runs first, as the
# control: it must give nothing.
#
#   harness/benches/explore/run.sh [BUDGET] [SEED]      # from the repository root
#
# BUDGET defaults to 60s, SEED to 1. Prints a Markdown table (README.md in
# this folder keeps the last one). Builds go to target/explore-bench (the
# first takes a few minutes, each bug after it about one).
set -euo pipefail

budget=${1:-60s}
seed=${2:-1}
root=$(git rev-parse --show-toplevel)
here=$root/harness/benches/explore
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/explore-bench}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
work=$scratch/work

# A clean copy of the committed and staged files, at one path for every bug
# (so that only the firmware and the harness are rebuilt between bugs).
fresh_copy() {
    rm -rf "$work"
    mkdir -p "$work"
    (cd "$root" && git ls-files -z --cached | xargs -0 cp --parents -t "$work")
}

# One row: build with the planted bug, explore, replay the first repro.
measure() {
    local name=$1 patch=$2
    fresh_copy
    if [ -n "$patch" ]; then
        (cd "$work" && git apply "$patch")
    fi
    cargo build --quiet --release --no-default-features -p locker-hil \
        --manifest-path "$work/Cargo.toml" >&2
    local harness=$CARGO_TARGET_DIR/release/harness
    local out=$scratch/out/$name log=$scratch/$name.log
    local code=0
    (cd "$work" && "$harness" explore --budget "$budget" --seed "$seed" --out "$out") \
        >"$log" 2>&1 || code=$?
    if [ "$code" -ne 1 ]; then
        local what
        what=$([ "$code" -eq 0 ] && echo "not found" || echo "explore exited $code")
        echo "| $name | $what | | | | |"
        return
    fi
    # The first finding: `FOUND <promise> (...)`, then `after T (scenario N);
    # A steps shrunk to B in R runs; ...`, then its file.
    local found after before shrunk file replay=0
    found=$(grep -m1 '^FOUND ' "$log" | sed 's/^FOUND //')
    after=$(grep -m1 '^  after ' "$log" | sed -E 's/^  after ([^ ]+) .*/\1/')
    before=$(grep -m1 '^  after ' "$log" | sed -E 's/.*; ([0-9]+) steps shrunk to ([0-9]+) .*/\1/')
    shrunk=$(grep -m1 '^  after ' "$log" | sed -E 's/.*; ([0-9]+) steps shrunk to ([0-9]+) .*/\2/')
    file=$(grep -m1 -A1 '^  after ' "$log" | tail -1 | sed 's/^  //')
    (cd "$work" && "$harness" run "$file" --junit "$scratch/j.xml" --html "$scratch/i.html" -q) \
        >/dev/null 2>&1 || replay=$?
    echo "| $name | $found | $after | $before | $shrunk | $replay |"
}

echo "explore --budget $budget --seed $seed, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| firmware | first finding | found after | steps found | steps shrunk | \`harness run\` of the repro exits |"
echo "|---|---|---|---|---|---|"
measure "unmodified (control)" ""
for patch in "$here"/bugs/*.patch; do
    measure "$(basename "$patch" .patch)" "$patch"
done
