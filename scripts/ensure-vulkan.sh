#!/usr/bin/env bash
# Makes sure a Vulkan adapter is available to `ductile`: when the given
# ductile binary finds none, installs the Vulkan loader and Mesa's software
# driver (lavapipe) from Debian's packages. On a machine with a GPU driver
# (or an earlier install) it installs nothing.
set -euo pipefail
bin="$1"
if "$bin" info >/dev/null 2>&1; then
    exit 0
fi
echo "ensure-vulkan: no Vulkan adapter found; installing libvulkan1 and mesa-vulkan-drivers" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libvulkan1 mesa-vulkan-drivers >/dev/null
"$bin" info
