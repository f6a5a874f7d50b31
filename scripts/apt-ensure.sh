#!/usr/bin/env bash
# Install Debian packages that are missing. Each argument is PACKAGE:CHECK, where CHECK is a
# shell command that succeeds when the package is already usable (so a machine with libvips
# from elsewhere is left alone). Uses sudo only when not root.
set -euo pipefail
missing=()
for spec in "$@"; do
  pkg=${spec%%:*} check=${spec#*:}
  if ! bash -c "$check" >/dev/null 2>&1; then missing+=("$pkg"); fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing ${missing[*]} with apt-get" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
