#!/usr/bin/env bash
# Makes sure a Vulkan adapter is available to `ductile`: when the given
# ductile binary finds none, installs the Vulkan loader and Mesa's software
# driver (lavapipe) from Debian's packages. On a machine with a GPU driver
# (or an earlier install) it installs nothing.
#
# Usage: ensure-vulkan.sh BIN [--upgrade]
#   --upgrade  install (or upgrade to) the newest lavapipe even when an
#              adapter is found.
#
# On Debian 12 (bookworm) the driver comes from bookworm-backports (Mesa 25)
# rather than bookworm itself (Mesa 22.3): Mesa 25's lavapipe runs Ductile's
# kernels 2-4x faster (BENCHMARKS.md, "Software driver"). The backports
# suite is added to apt's sources when missing; if installing from it fails,
# Debian 12's own Mesa is installed instead.
set -euo pipefail
bin="$1"
upgrade="${2:-}"
if [ -n "$upgrade" ] && [ "$upgrade" != "--upgrade" ]; then
    echo "ensure-vulkan: unknown option '$upgrade' (allowed: --upgrade)" >&2
    exit 2
fi

if [ -z "$upgrade" ] && info="$("$bin" info 2>/dev/null)"; then
    if grep -q "llvmpipe Mesa 2[0-3]\." <<<"$info"; then
        echo "ensure-vulkan: note: this machine's lavapipe is Mesa $(grep -o 'Mesa 2[0-3][.0-9]*' <<<"$info" | head -1 | cut -d' ' -f2);" \
            "Mesa 25 runs Ductile about 2x faster: bash scripts/ensure-vulkan.sh $bin --upgrade" >&2
    fi
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
codename="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")"
if [ -z "$upgrade" ]; then
    echo "ensure-vulkan: no Vulkan adapter found; installing libvulkan1 and mesa-vulkan-drivers" >&2
fi
installed=""
if [ "$codename" = "bookworm" ]; then
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "ensure-vulkan: adding bookworm-backports to apt's sources for Mesa 25" >&2
        echo "deb http://deb.debian.org/debian bookworm-backports main" |
            $sudo tee /etc/apt/sources.list.d/ductile-bookworm-backports.list >/dev/null
    fi
    $sudo apt-get update -qq
    if $sudo apt-get install -y -qq -t bookworm-backports libvulkan1 mesa-vulkan-drivers >/dev/null; then
        installed="yes"
    else
        echo "ensure-vulkan: installing from bookworm-backports failed; using Debian 12's Mesa" >&2
    fi
else
    $sudo apt-get update -qq
fi
if [ -z "$installed" ]; then
    $sudo apt-get install -y -qq libvulkan1 mesa-vulkan-drivers >/dev/null
fi
"$bin" info
