#!/usr/bin/env bash
# The publishable library package (packages/fdlab) from this repository's
# sources, which stay where the lab tool uses them: the import closure of
# src/index.ts compiled into packages/fdlab/dist, and copies of native/ and
# binding.gyp so the package can build its addon where no prebuilt fits.
# The copies are git-ignored. Runs as the package's prepare script (npm ci,
# npm pack) and from the root's npm run build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lib="$root/packages/fdlab"
rm -rf "$lib/dist" "$lib/native"
"$root/node_modules/.bin/tsc" -p "$lib/tsconfig.json"
cp -r "$root/native" "$lib/native"
cp "$root/binding.gyp" "$lib/binding.gyp"
