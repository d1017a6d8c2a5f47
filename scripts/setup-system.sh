#!/usr/bin/env bash
# Installs the system packages the test suite needs (ffmpeg, Chromium + ChromeDriver, PostgreSQL).
# On a Debian machine where we are root this runs apt-get; elsewhere it says what to install.
set -euo pipefail

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
[ -x /usr/lib/chromium/chromium ] || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v npm >/dev/null 2>&1 || need+=(npm)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: installing ${need[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${need[@]}" >/dev/null
else
  echo "setup-system: please install these system packages: ${need[*]}" >&2
  echo "  (Debian/Ubuntu: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
