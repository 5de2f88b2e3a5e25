#!/usr/bin/env bash
# Installs what the page tests drive when it is missing (Debian/Ubuntu): Chromium, its WebDriver, and
# CJK fonts so the Simplified Chinese pages render (and screenshot) as readers see them. Selenium comes
# from PyPI (tests/e2e/requirements.txt) and uses these, never a downloaded browser.
set -euo pipefail
[ "$(uname)" = "Darwin" ] && exit 0
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
[ -d /usr/share/fonts/opentype/noto ] || missing+=(fonts-noto-cjk)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ]; then
    echo "installing ${missing[*]} (Debian packages) for the page tests..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) >&2
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "installing ${missing[*]} with sudo for the page tests..." >&2
    sudo apt-get install -y -qq "${missing[@]}" >&2
else
    echo "note: the page tests need ${missing[*]}: run  apt-get install -y ${missing[*]}  as root" >&2
fi
