#!/usr/bin/env bash
# The test suite: build, make sure Vulkan works (installing Mesa's software
# driver only when no adapter is found), then every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
cargo build --locked --bin ductile
bash scripts/ensure-vulkan.sh target/debug/ductile
cargo test --locked --workspace "$@"
