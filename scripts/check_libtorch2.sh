#!/usr/bin/env bash
# Issue 2's "the project configures against a LibTorch 2.x": Debian 12 ships LibTorch 1.13,
# so this fetches Debian 13's (trixie) LibTorch 2.x packages without installing them
# (apt-get download + dpkg-deb -x into a scratch directory; the trixie source is pinned at
# priority 1 so nothing installed changes), configures the whole tree against them and
# compiles every object. Linking is not attempted (the 2.x library's own dependencies are
# not on a Debian 12 machine): what is checked is that no header or API the project uses
# is missing from LibTorch 2.x. Needs root for apt. Used by .ci/run.
#
#     scripts/check_libtorch2.sh [SCRATCH_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scratch=${1:-/tmp/eelu-libtorch2}
rm -rf "$scratch" && mkdir -p "$scratch/debs" "$scratch/root"
chmod 777 "$scratch/debs"  # apt-get download runs as _apt
if [ ! -f /etc/apt/sources.list.d/eelu-trixie.list ]; then
  echo "deb http://deb.debian.org/debian trixie main" > /etc/apt/sources.list.d/eelu-trixie.list
  printf 'Package: *\nPin: release n=trixie\nPin-Priority: 1\n' > /etc/apt/preferences.d/eelu-trixie
  apt-get update -qq
fi
cd "$scratch/debs"
apt-get download -qq libtorch-dev/trixie
runtime=$(dpkg-deb -f libtorch-dev_*.deb Depends | grep -o 'libtorch2\.[0-9]*' | head -1)
apt-get download -qq "$runtime/trixie"
for d in *.deb; do dpkg-deb -x "$d" "$scratch/root"; done
v=$scratch/root/usr/include/torch/csrc/api/include/torch/version.h
version=$(awk '/define TORCH_VERSION_(MAJOR|MINOR|PATCH)/ {printf "%s%s", sep, $3; sep="."}' "$v")
echo "check_libtorch2: $runtime (LibTorch $version)"
# The 2.x headers come first (-isystem before /usr/include, where 1.13's are).
cmake -S "$root" -B "$scratch/build" -DCMAKE_PREFIX_PATH="$scratch/root/usr/lib/x86_64-linux-gnu/cmake" \
      -DCMAKE_BUILD_TYPE=Release > "$scratch/configure.log" 2>&1 ||
  { cat "$scratch/configure.log"; echo "check_libtorch2: configure FAILED"; exit 1; }
grep -q "isystem $scratch/root/usr/include" "$scratch/build/CMakeFiles/eelu.dir/flags.make" ||
  { echo "check_libtorch2: the build does not use the 2.x headers"; exit 1; }
# Every object of every target, no linking: make's -k goes on past the (expected) link
# failures; a compile error is what fails the check.
cmake --build "$scratch/build" -j"$(nproc)" -- -k > "$scratch/build.log" 2>&1 || true
if grep -E "error:" "$scratch/build.log" | grep -v "ld returned\|undefined reference"; then
  echo "check_libtorch2: FAILED: the tree does not compile against $runtime"
  exit 1
fi
objects=$(grep -c "Building CXX object" "$scratch/build.log")
echo "check_libtorch2: configured and compiled $objects objects against $runtime: ok"
