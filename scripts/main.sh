#!/usr/bin/env bash
# The main job: build, make sure Vulkan works, run the dam-break scene headless.
# Output: out/dam_break/{ply,npy,png}/frame_*.{ply,npy,png} and out/dam_break/summary.json.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
cargo build --release --locked
bash scripts/ensure-vulkan.sh target/release/ductile
target/release/ductile run scenes/dam_break.ron --out out/dam_break "$@"
