#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages that Qt, QtWebEngine, sound and speech need.
# Idempotent: does nothing (and needs no root) when every package is present.
# Used by `make demo` / `make test`; the list is the one checked in docs/design.
set -euo pipefail

PACKAGES=(
  libgl1 libegl1 libx11-6 libdbus-1-3 libfontconfig1 libfreetype6 libglib2.0-0
  libxkbcommon0 libnss3 libnspr4 libxcomposite1 libxdamage1 libxext6 libxfixes3
  libxrandr2 libxtst6 libasound2 libbrotli1 libgbm1 libxcb1 libxcb-dri3-0
  libxkbfile1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-render-util0 libxcb-render0 libxcb-shape0 libxcb-util1 libxcb-xkb1
  libxkbcommon-x11-0 libpulse0 espeak-ng xvfb xauth sox fonts-dejavu-core
  # The tests read the situation report PDFs back as pages (pdftoppm) and text (pdftotext).
  poppler-utils
)

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "installer: not a Debian/Ubuntu system; install the Qt/WebEngine runtime libraries and espeak-ng yourself" >&2
  exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  # A package may be virtual on newer releases (libasound2 -> libasound2t64): accept either.
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
     && ! dpkg-query -W -f='${Status}' "${pkg}t64" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installer: installing system packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "installer: need root or sudo to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
