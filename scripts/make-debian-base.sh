#!/usr/bin/env bash
# Makes docker.io/library/debian:bookworm-slim locally, for machines that reach Debian's mirror
# but no container registry: mmdebstrap writes a minbase Debian 12 root file system (the same
# package set as the official slim image), and the engine imports it under the official name,
# so the Containerfile's `FROM debian:bookworm-slim` builds unchanged with --pull=never.
#
#   scripts/make-debian-base.sh ENGINE TARBALL [IMAGE]
#
# The tarball is kept: importing it again takes seconds, making it again most of a minute.
set -euo pipefail
engine=$1 tarball=$2 image=${3:-docker.io/library/debian:bookworm-slim}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

if [ ! -s "$tarball" ]; then
  mkdir -p "$(dirname "$tarball")"
  # The official slim image drops documentation, manuals and translations, and keeps that rule
  # for what is installed on top of it (/etc/dpkg/dpkg.cfg.d/); mmdebstrap keeps --dpkgopt there.
  # The merged-usr hook lays out /usr as debootstrap does; without it apt satisfies bookworm's
  # merged-/usr dependency with the usrmerge package, which brings all of perl (50 MB).
  mmdebstrap --variant=minbase --format=tar --quiet --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/groff/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    bookworm "$tarball.partial" \
    "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main" >/dev/null
  mv "$tarball.partial" "$tarball"
fi
"$engine" import -q --change 'CMD ["bash"]' "$tarball" "$image" >/dev/null
echo "made $image from $tarball ($(du -h "$tarball" | cut -f1))"
