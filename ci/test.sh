#!/usr/bin/env bash
# What every push runs: formatting, lints, and the whole test suite. The test suite is
# also a simulation run: 200+ seeds of the default scenario, each crashing and
# recovering the engine, plus determinism and planted-bug checks (tests/tests/).
set -euo pipefail
cd "$(dirname "$0")/.."

# A RUSTFLAGS variable replaces the `--cfg madsim` that .cargo/config.toml sets; the
# guard test would fail, so make the cause obvious instead.
if [ -n "${RUSTFLAGS:-}" ]; then
  echo "ci/test.sh: unsetting RUSTFLAGS (it would override .cargo/config.toml)" >&2
  unset RUSTFLAGS
fi

ensure_component() {
  if ! cargo "$1" --version >/dev/null 2>&1; then
    rustup component add "$2" >/dev/null 2>&1 || true
  fi
  cargo "$1" --version >/dev/null 2>&1
}

if ensure_component fmt rustfmt; then
  cargo fmt --all -- --check
else
  echo "ci/test.sh: rustfmt unavailable; skipping the format check" >&2
fi
if ensure_component clippy clippy; then
  cargo clippy --workspace --all-targets -- -D warnings
else
  echo "ci/test.sh: clippy unavailable; skipping lints" >&2
fi
cargo test --workspace
