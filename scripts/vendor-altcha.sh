#!/usr/bin/env bash
# Vendor the ALTCHA widget from the npm registry into web/static/vendor/altcha/, so that it is
# served from our own origin. Usage: scripts/vendor-altcha.sh [version]
#
# The "external" build is the one that works under our Content-Security-Policy: it injects no
# <style> element and no style attribute (its stylesheet is a file of its own) and starts no
# worker from a blob; the PBKDF2 worker is a file of its own too (registered in
# web/static/js/altcha-setup.js). npm checks the package against the registry's integrity hash;
# SHA256SUMS.txt records what was copied.
set -euo pipefail
version=${1:-3.2.2}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "altcha@$version" >/dev/null && tar xzf "altcha-$version.tgz")
dest=web/static/vendor/altcha
rm -rf "$dest"
mkdir -p "$dest"
cp "$tmp/package/dist/external/altcha.min.js" "$dest/altcha.js"
cp "$tmp/package/dist/external/altcha.css" "$dest/altcha.css"
cp "$tmp/package/dist/workers/pbkdf2.js" "$dest/pbkdf2-worker.js"
cp "$tmp/package/LICENSE.txt" "$dest/LICENSE.txt"
echo "altcha $version (npm registry), MIT licence: see LICENSE.txt" >"$dest/VERSION.txt"
(cd "$dest" && sha256sum altcha.js altcha.css pbkdf2-worker.js LICENSE.txt >SHA256SUMS.txt)
echo "vendored altcha $version into $dest"
