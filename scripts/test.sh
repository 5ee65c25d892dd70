#!/usr/bin/env bash
# The test suite: build, make sure Vulkan works (installing Mesa's software
# driver only when no adapter is found), then every test of the workspace.
# Ends with one line "N passed, N failed" summed over all test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
# Build every test target first; this also builds target/debug/ductile, which
# the CLI tests run. (A separate `cargo build` before `cargo test` compiled
# wgpu, naga and image twice in a cold build: 113 s of extra build time.)
cargo test --locked --workspace --no-run
bash scripts/ensure-vulkan.sh target/debug/ductile
# Gradient checks run in f64: an adapter without SHADER_F64 fails them, so
# say so once, up front (lavapipe has it).
if ! target/debug/ductile info | grep -q "f64: yes"; then
    echo "test.sh: the Vulkan adapter has no SHADER_F64, which the gradient checks need" >&2
    target/debug/ductile info >&2 || true
    exit 1
fi
# The viewer's test opens a real window under Xvfb.
if ! command -v xvfb-run >/dev/null 2>&1; then
    echo "test.sh: installing xvfb and xauth for the viewer's test" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq xvfb xauth >/dev/null
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --locked --workspace "$@" 2>&1 | tee "$log"
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
