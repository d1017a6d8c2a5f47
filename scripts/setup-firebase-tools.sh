#!/usr/bin/env bash
# Installs firebase-tools (the Firebase Auth emulator that tests/test_api_firebase.py starts) from
# the lockfile in tools/firebase-emulator into a cache outside the work tree, one folder per
# lockfile hash, so later runs and fresh clones on the same machine install nothing.
# Optional dependencies are left out: the only one is re2, a native build the Auth emulator does
# not use. Prints the folder it installed into.
set -euo pipefail
cd "$(dirname "$0")/.."

src=tools/firebase-emulator
cache="${LIFTSTREAM_FIREBASE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/liftstream/firebase-tools}"
key="$(sha256sum "$src/package-lock.json" | cut -c1-16)"
dest="$cache/$key"

if [ -x "$dest/node_modules/.bin/firebase" ]; then
  echo "$dest"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "setup-firebase-tools: npm is not installed (scripts/setup-system.sh installs it)" >&2
  exit 1
fi
mkdir -p "$cache"
tmp="$(mktemp -d "$cache/.partial.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cp "$src/package.json" "$src/package-lock.json" "$tmp/"
echo "setup-firebase-tools: npm ci firebase-tools into $dest" >&2
(cd "$tmp" && npm ci --omit=optional --no-audit --no-fund --loglevel=error >&2)
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "$dest"
