#!/usr/bin/env bash
# Runs a command of the README in a fresh Debian 12 root, as a newcomer's machine would:
# debootstrap (minbase, plus what a new machine of this kind ships: build-essential, cmake,
# googletest, libgtest-dev, libgmock-dev, libbenchmark-dev, git, python3), a fresh clone of
# the commit under test (HEAD of this checkout) inside it, then the command there, as root.
# Everything else the command needs it must install itself: that is what this checks.
#
#     scripts/fresh-check.sh                   # scripts/test.sh in the fresh root
#     scripts/fresh-check.sh scripts/main.sh   # or any command of the clone
#
# For other machines than a newcomer's (bench/gpu/fresh-build.sh: a GPU machine without
# Debian's -dev packages), three knobs: EELU_FRESH_PURGE (packages of the base removed first),
# EELU_FRESH_BIND (directories of this machine bind-mounted read-only at the same path) and
# EELU_FRESH_COPY (ignored paths of this checkout copied into the clone).
#
# Needs root (debootstrap, chroot, mounts) and Debian's mirror. The bootstrapped base is kept
# as a tarball in $EELU_FRESH_CACHE (default /var/cache/eelu-fresh), keyed by its package
# list, so a second run skips the download; the downloaded .deb files and ccache's objects
# are kept there too (bind-mounted into the root), so a second run does not fetch or compile
# again what it did before. The root itself is new every run and removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
[ "$(id -u)" -eq 0 ] || { echo "fresh-check: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
command=("$@")
((${#command[@]})) || command=(scripts/test.sh)

suite=bookworm
mirror=${EELU_FRESH_MIRROR:-http://deb.debian.org/debian}
base_packages=build-essential,cmake,googletest,libgtest-dev,libgmock-dev,libbenchmark-dev,git,python3,ca-certificates
cache=${EELU_FRESH_CACHE:-/var/cache/eelu-fresh}
key=$(echo "$suite $mirror $base_packages" | sha256sum | cut -c1-12)
tarball=$cache/debian12-minbase-$key.tar
mkdir -p "$cache/debs" "$cache/ccache"

if ! command -v debootstrap > /dev/null; then
  echo "fresh-check: installing debootstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap > /dev/null
fi

root=$(mktemp -d /var/tmp/eelu-fresh-root.XXXXXX)
mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2> /dev/null || true; done
  # Never delete through a mount that is still there (the caches are bind-mounted in).
  if grep -q " $root/" /proc/mounts; then
    echo "fresh-check: $root still has mounts; left in place" >&2
  else
    rm -rf --one-file-system "$root"
  fi
}
trap cleanup EXIT
bind() {  # bind SOURCE TARGET-IN-ROOT
  mkdir -p "$root$2"
  mount --bind "$1" "$root$2"
  mounts+=("$root$2")
}

t0=$SECONDS
if [ -f "$tarball" ]; then
  echo "fresh-check: Debian 12 minbase from the cached $tarball"
  tar -xpf "$tarball" -C "$root"
else
  echo "fresh-check: debootstrap $suite (minbase + $base_packages) from $mirror"
  debootstrap --variant=minbase --include="$base_packages" "$suite" "$root" "$mirror" \
    > "$cache/debootstrap.log" 2>&1 || { tail -30 "$cache/debootstrap.log"; exit 1; }
  rm -f "$root"/var/cache/apt/archives/*.deb
  tar -cpf "$tarball.tmp" -C "$root" . && mv "$tarball.tmp" "$tarball"
fi
# Its / as on a machine: mktemp made it 700 (and the cached tarball kept that), so that no
# user but root could run anything there (munge's set-up runs as the user munge).
chmod 755 "$root"
echo "fresh-check: root ready in $((SECONDS - t0)) s"

mount -t proc proc "$root/proc" && mounts+=("$root/proc")
# /sys with what is mounted below it (/sys/fs/cgroup: slurmd needs it, as on a machine)
mkdir -p "$root/sys" && mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys" &&
  mounts+=("$root/sys")
bind /dev /dev
bind /dev/pts /dev/pts
mkdir -p "$root/dev/shm" && mount -t tmpfs tmpfs "$root/dev/shm" && mounts+=("$root/dev/shm")
bind "$cache/debs" /var/cache/apt/archives
bind "$cache/ccache" /root/.ccache
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# A machine knows its own name (Debian's installer writes /etc/hosts; debootstrap does not).
cp -L /etc/hosts "$root/etc/hosts"
# A root that was never booted starts no service when a package is installed (Debian's
# containers say the same): the Slurm tests start their own daemons.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d" && chmod 755 "$root/usr/sbin/policy-rc.d"
# What the base's minbase lacks and every Debian machine has: the security and update suites.
echo "deb $mirror $suite-updates main" >> "$root/etc/apt/sources.list"

commit=$(git rev-parse HEAD)
git clone -q --no-hardlinks "$repo" "$root/work/eelu"
git -C "$root/work/eelu" checkout -q "$commit"
for dir in ${EELU_FRESH_BIND:-}; do
  bind "$dir" "$dir"
  mount -o remount,bind,ro "$root$dir"
done
for path in ${EELU_FRESH_COPY:-}; do cp -a "$repo/$path" "$root/work/eelu/$path"; done
if [ -n "${EELU_FRESH_PURGE:-}" ]; then
  echo "fresh-check: removing ${EELU_FRESH_PURGE} from the root"
  chroot "$root" dpkg --purge --force-depends $EELU_FRESH_PURGE > /dev/null
fi
echo "fresh-check: clone of $(git rev-parse --short=12 HEAD); running: ${command[*]}"

env -i HOME=/root LANG=C.UTF-8 TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  CCACHE_DIR=/root/.ccache CCACHE_MAXSIZE=5G CI="${CI:-}" \
  chroot "$root" /bin/bash -c 'cd /work/eelu && "$@"' fresh-check "${command[@]}"
