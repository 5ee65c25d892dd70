#!/usr/bin/env bash
# The test suite: build, make sure Vulkan works (installing Mesa's software
# driver only when no adapter is found), then every test of the workspace.
# Ends with one line "N passed, N failed" summed over all test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
cargo build --locked --bin ductile
bash scripts/ensure-vulkan.sh target/debug/ductile
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --locked --workspace "$@" 2>&1 | tee "$log"
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
