#!/usr/bin/env bash
# Installs what eelu needs from Debian 12's packages (only what is missing) and configures
# the build tree build/. Used by scripts/main.sh, scripts/test.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake g++ make            # the build
  libtorch-dev              # LibTorch 1.13 (CPU): tensors, autograd, dispatcher
  libsleef-dev              # sleef.h, which ATen's AVX2 vectors include (the fast kernels)
  python3-torch             # the same LibTorch from /usr/bin/python3
  libcli11-dev              # the command line
  gnuplot-nox               # pictures (pngcairo)
  zlib1g-dev                # gzip-compressed IDX files
  libturbojpeg0-dev         # JPEG (Tiny ImageNet, image folders)
  libjpeg62-turbo-dev       # libjpeg.a, which libturbojpeg0-dev's CMake package names
  dataset-fashion-mnist     # the default dataset, always present
  nlohmann-json3-dev        # records (JSON)
  libsqlite3-dev            # the experiment database
  libtomlplusplus-dev       # grid configs (TOML)
  libboost-math-dev         # Boost.Math: Student's t for the experiment statistics
  libgloo-dev               # Gloo headers for c10d's ProcessGroupGloo (distributed training)
  libgtest-dev python3-pytest python3-pytest-xdist  # tests
  python3-setuptools        # setup.py (pip install; its tests)
  ccache                    # fast rebuilds
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  echo "setup: installing ${missing[*]}"
  "${sudo[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${missing[@]}"
fi

launcher=()
if command -v ccache > /dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Precompiled headers are fine to cache with these.
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" > build.configure.log 2>&1 || {
  cat build.configure.log
  exit 1
}
rm -f build.configure.log
