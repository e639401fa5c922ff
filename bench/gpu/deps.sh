#!/usr/bin/env bash
# Gathers into .gpu-deps/ what the whole tree (CLI, trainer, grids, tests) needs beyond
# PyTorch, CMake, nvcc and a C++ compiler, for a GPU machine without Debian's packages (the
# lent ones; they have no network either). Run here, on the Debian 12 development machine;
# the device call carries the folder (`carry: [".gpu-deps"]`, about 45 MiB):
#   root/     Debian 12's packages of CLI11, nlohmann JSON, toml++, SQLite, libjpeg-turbo, zlib,
#             Gloo's headers and GoogleTest, unpacked with `dpkg -x` (headers, CMake packages,
#             shared libraries), without their docs;
#             and of Boost only the headers Boost.Math's Student's t includes (the whole of
#             Boost is 150 MB), found by the compiler, with Boost's CMake package;
#   data/     Fashion-MNIST's four files (the dataset the trainer's figures use).
# bench/gpu/train.sh builds with it: CMAKE_PREFIX_PATH=.gpu-deps/root/usr, the libraries on
# LD_LIBRARY_PATH, EELU_GLOO_INCLUDE_DIR=.gpu-deps/root/usr/include.
#
#     bench/gpu/deps.sh          # downloads the .debs once into $EELU_GPU_DEBS
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=$PWD/.gpu-deps
debs=${EELU_GPU_DEBS:-/var/cache/eelu-gpu-debs}
packages=(libcli11-dev nlohmann-json3-dev libtomlplusplus-dev libtomlplusplus3 libsqlite3-dev
          libsqlite3-0 zlib1g-dev zlib1g libturbojpeg0-dev libturbojpeg0 libjpeg62-turbo-dev
          libjpeg62-turbo libgloo-dev libgtest-dev)
rm -rf "$dest"
mkdir -p "$dest/root" "$dest/data/fashion-mnist" "$debs"
id _apt > /dev/null 2>&1 && chown _apt "$debs"  # apt's downloads run as _apt
(cd "$debs" && for p in "${packages[@]}"; do
   ls "$p"_*.deb > /dev/null 2>&1 || apt-get download -q "$p" > /dev/null
 done)
for p in "${packages[@]}"; do dpkg -x "$(ls "$debs/$p"_*.deb | tail -1)" "$dest/root"; done
rm -rf "$dest/root/usr/share/doc" "$dest/root/usr/share/man" "$dest/root/usr/src" \
  "$dest/root/usr/share/lintian"

# Debian's CMake packages name their files by absolute path (/usr/...): point them at the
# bundle's own usr/, wherever the checkout is on the GPU machine.
for f in "$dest"/root/usr/lib/x86_64-linux-gnu/cmake/*/*.cmake "$dest"/root/usr/share/cmake/*/*.cmake; do
  grep -q '"/usr' "$f" || continue
  up=../../..
  case $f in */lib/x86_64-linux-gnu/cmake/*) up=../../../..;; esac
  sed -i 's|^set(_IMPORT_PREFIX "/usr")$|get_filename_component(_IMPORT_PREFIX "${CMAKE_CURRENT_LIST_DIR}/'"$up"'" ABSOLUTE)|' "$f"
  case $f in *Targets-*.cmake) sed -i 's|"/usr/lib/|"${_IMPORT_PREFIX}/lib/|g' "$f";; esac
done

# Boost: the headers that <boost/math/distributions/students_t.hpp> pulls in, as g++ sees them.
closure=$(echo '#include <boost/math/distributions/students_t.hpp>' |
  g++ -std=c++17 -x c++ -M - | tr ' \\' '\n\n' | grep '^/usr/include/boost/' | sort -u)
for h in $closure; do
  mkdir -p "$dest/root$(dirname "$h")"
  cp "$h" "$dest/root$h"
done
for d in Boost-1.74.0 boost_headers-1.74.0; do
  cp -r "/usr/lib/x86_64-linux-gnu/cmake/$d" "$dest/root/usr/lib/x86_64-linux-gnu/cmake/"
done
cp /usr/lib/x86_64-linux-gnu/cmake/BoostDetectToolset-1.74.0.cmake \
  "$dest/root/usr/lib/x86_64-linux-gnu/cmake/"

cp /usr/share/datasets/fashion-mnist/*.gz "$dest/data/fashion-mnist/"
echo "bench/gpu/deps.sh: $(du -sh "$dest" | cut -f1) in $dest ($(echo "$closure" | wc -l) Boost headers)"
