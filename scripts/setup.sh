#!/usr/bin/env bash
# scripts/setup.sh: installs what fedbundle needs on Debian 12 (only the
# packages that are missing), then configures and builds into build/.
# Sourced-or-run by demo.sh and test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
	build-essential meson ninja-build pkg-config cmake
	libsodium-dev libopenblas-dev libnng-dev libcjson-dev libfftw3-dev
	libxxhash-dev
	clang clang-format gnuplot-nox cppcheck iproute2 iptables
	parallel # GNU parallel: tests/integration/test-sweep-parallel.sh
	scdoc # the man pages (docs/man/*.scd)
)
missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}" >&2
	sudo_cmd=""
	if [ "$(id -u)" -ne 0 ]; then
		sudo_cmd="sudo"
	fi
	$sudo_cmd apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

builddir=${FB_BUILDDIR:-build}
if [ ! -f "$builddir/build.ninja" ]; then
	meson setup "$builddir" --buildtype=release ${FB_MESON_ARGS:-}
fi
ninja -C "$builddir" >&2
