#!/usr/bin/env bash
# Prebuilt native modules for the published package, loaded by node-gyp-build
# (prebuilds/<platform>-<arch>/node.napi.glibc.node, the names prebuildify
# gives). The addon uses only N-API (NAPI_VERSION=8), so one binary per
# architecture serves every Node from 20 on. linux-x64 with this machine's g++;
# linux-arm64 with Debian's cross compiler (apt-get install g++-aarch64-linux-gnu)
# when it is installed, else skipped with the reason. Builds in a temp copy,
# so the checkout's build/ is left as it is. Writes packages/fdlab/prebuilds
# (the library package ships them), or the directory given. Run with:
# npm run build:prebuilds (npm pack -w fdlab runs it too)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prebuilds="$(realpath -m "${1:-$root/packages/fdlab/prebuilds}")"
command -v node-gyp >/dev/null || { echo "node-gyp is not on PATH: run this through 'npm run build:prebuilds'" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$root/packages/fdlab/binding.gyp" "$root/packages/fdlab/native" "$work/"
ln -s "$root/node_modules" "$work/node_modules"

build() { # arch compiler-prefix
  local arch="$1" prefix="$2" out="$prebuilds/linux-$1"
  (cd "$work" && CC="${prefix}gcc" CXX="${prefix}g++" LINK="${prefix}g++" AR="${prefix}ar" \
    node-gyp rebuild --arch="$arch" --loglevel=warn >/dev/null)
  mkdir -p "$out"
  cp "$work/build/Release/fdlab.node" "$out/node.napi.glibc.node"
  "${prefix}strip" --strip-unneeded "$out/node.napi.glibc.node"
  echo "$prebuilds/linux-$arch/node.napi.glibc.node: $((file -b "$out/node.napi.glibc.node" 2>/dev/null || echo "?") | cut -d, -f1-2), $(stat -c %s "$out/node.napi.glibc.node") bytes"
}

rm -rf "$prebuilds"
build x64 ""
if command -v aarch64-linux-gnu-g++ >/dev/null; then
  build arm64 aarch64-linux-gnu-
else
  echo "$prebuilds/linux-arm64: skipped, no aarch64-linux-gnu-g++ (apt-get install g++-aarch64-linux-gnu)"
fi
