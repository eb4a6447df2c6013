#!/usr/bin/env bash
# What runs every night: each cargo-fuzz target for a while, the canary (which must FAIL,
# proving the fuzzing pipeline can fail at all), then long simulation sweeps in release.
#
# Not covered here: the per-push checks (ci/test.sh, which also replays the committed
# fuzz corpus through tests/tests/fuzz_corpus.rs on stable).
#
# Knobs (environment):
#   FUZZ_SECONDS    seconds per fuzz target (default 120)
#   CANARY_SECONDS  budget in which the canary must fail (default 120)
#   FUZZ_SANITIZER  cargo fuzz --sanitizer (default none: the engine and simulator forbid
#                   unsafe code, and without AddressSanitizer engine_ops runs 2-8 times as
#                   many inputs; `address` checks the dependencies' unsafe code too)
#   FUZZ_MAX_LEN    libFuzzer -max_len (default 512: long enough for a 64-operation
#                   engine_ops sequence, which libFuzzer's slow length growth would
#                   otherwise take most of the night to reach)
#   SWEEP_SEEDS     seeds per simulation sweep (default 20000)
#   SWEEP_START     first seed (default: derived from today's UTC date, so every night
#                   covers new seeds and a failure names a seed anyone can rerun)
#
# A fuzz failure leaves its input under fuzz/artifacts/<target>/; replay it with
# `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <file>`, and once fixed, commit
# it (minimized: `cargo fuzz tmin`) under fuzz/corpus/<target>/ so cargo test keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-120}
CANARY_SECONDS=${CANARY_SECONDS:-120}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-none}
FUZZ_MAX_LEN=${FUZZ_MAX_LEN:-512}
SWEEP_SEEDS=${SWEEP_SEEDS:-20000}
SWEEP_START=${SWEEP_START:-$(($(date -u +%Y%m%d) * 1000000))}

# Every target but the canary; each must survive its budget.
TARGETS=(wal_record manifest heap_page row engine_ops sim_plan)
# The SQL/DDL input target goes here, next: add `sql` to TARGETS (fuzz/fuzz_targets/sql.rs
# calling kiln_sim::fuzzing::sql on the SQL front door, a corpus of statements under
# fuzz/corpus/sql/, and its entry in kiln_sim::fuzzing::TARGETS so that
# tests/tests/fuzz_corpus.rs replays it).

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# cargo fuzz needs nightly-only compiler flags; on this machine it runs on stable with
# RUSTC_BOOTSTRAP=1. It sets its own RUSTFLAGS (so the simulator builds without
# `--cfg madsim`, as its fuzzing module requires).
export RUSTC_BOOTSTRAP=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

fuzz_run() {
  local target=$1 seconds=$2
  shift 2
  mkdir -p "$scratch/$target"
  # New inputs go to the first corpus directory (scratch); the committed corpus is only
  # read, so a night of fuzzing does not grow the repository.
  (cd fuzz && cargo fuzz run --sanitizer "$FUZZ_SANITIZER" --debug-assertions "$target" \
    "$scratch/$target" "corpus/$target" -- -max_total_time="$seconds" -max_len="$FUZZ_MAX_LEN" "$@")
}

# Build every target first: a build failure is not a fuzzing result, and the canary
# check below must not mistake one for the canary firing.
(cd fuzz && cargo fuzz build --sanitizer "$FUZZ_SANITIZER" --debug-assertions)

failed=()
for target in "${TARGETS[@]}"; do
  echo "=== fuzz $target for ${FUZZ_SECONDS}s"
  if ! fuzz_run "$target" "$FUZZ_SECONDS"; then
    failed+=("fuzz:$target (the failing input is under fuzz/artifacts/$target/; the log above has the panic)")
  fi
done

# The canary must fail, and for the right reason: a build failure also exits non-zero,
# so require the crashing input it saved to start with KILN.
echo "=== canary: must fail within ${CANARY_SECONDS}s"
canary_artifacts="$scratch/canary-artifacts/"
mkdir -p "$canary_artifacts"
found_kiln() {
  local input
  for input in "$canary_artifacts"crash-*; do
    [ -f "$input" ] && [ "$(head -c 4 "$input")" = KILN ] && return 0
  done
  return 1
}
if fuzz_run canary "$CANARY_SECONDS" -artifact_prefix="$canary_artifacts"; then
  failed+=("canary: the fuzzer ran ${CANARY_SECONDS}s without finding KILN; fuzzing is broken")
elif ! found_kiln; then
  failed+=("canary: the fuzzer failed without a KILN input (a build or harness error?)")
else
  echo "canary failed as it must"
fi

# The simulator is built with `--cfg madsim` from .cargo/config.toml; a RUSTFLAGS
# variable would replace that.
unset RUSTFLAGS
for scenario in scenarios/default.toml scenarios/bitflip.toml scenarios/cascade_drop_crash.toml; do
  echo "=== sweep $scenario: $SWEEP_SEEDS seeds from $SWEEP_START"
  if ! cargo run --release -p kiln-sim -- sweep --scenario "$scenario" \
    --seeds "$SWEEP_SEEDS" --start "$SWEEP_START"; then
    failed+=("sweep:$scenario (artifacts under sim-artifacts/)")
  fi
done

if ((${#failed[@]})); then
  echo "nightly FAILED:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "nightly passed"
