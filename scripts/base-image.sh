#!/usr/bin/env bash
# The Dockerfile's base image, made from Debian's packages instead of pulled from a registry:
#
#   scripts/base-image.sh        # prints the image name; pass it as --build-arg BASE_IMAGE=...
#
# Equivalent to python:3.11-slim-bookworm for this project: Debian bookworm (debootstrap minbase) with
# python3 (3.11), python3-venv and ca-certificates, and `python` on PATH. Packages come from the mirror
# apt is configured with on this machine. The root filesystem is cached as a tarball
# (CIO_IMAGE_CACHE, default /var/cache/customerio-load-scale): it is imported when the engine lacks the
# image and rebuilt only when the tarball is missing or its recipe changed. Needs root (debootstrap)
# the first time, and a Docker engine (see scripts/docker-engine.sh).
set -euo pipefail

suite=${BASE_SUITE:-bookworm}
packages=python3,python3-venv,ca-certificates
image=${BASE_IMAGE_NAME:-customerio-load-scale-base:$suite}
cache=${CIO_IMAGE_CACHE:-/var/cache/customerio-load-scale}
recipe=$(cat "$0" | sha256sum | cut -c1-12)  # any change to this script rebuilds the base
tarball="$cache/base-$suite-$recipe.tar"

die() { echo "base-image: $*" >&2; exit 2; }

apt_mirror() {  # the Debian archive apt uses here (one-line and deb822 sources), else deb.debian.org
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; break } }' \
    | grep -v -e security -e updates | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | awk '/^URIs:/ { print $2 }' | grep -v -e security -e updates | head -n1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

command -v docker >/dev/null || die "docker is missing; run: eval \"\$(scripts/docker-engine.sh env)\""
if [ "$(docker image inspect --format '{{index .Config.Labels "org.customerio-load-scale.recipe"}}' "$image" 2>/dev/null)" = "$recipe" ]; then
  echo "$image"
  exit 0
fi

if [ ! -f "$tarball" ]; then
  [ "$(id -u)" -eq 0 ] || die "building $image needs root (debootstrap); run it once as root, or pull python:3.11-slim-bookworm"
  command -v debootstrap >/dev/null || die "debootstrap is missing; install it (apt-get install debootstrap)"
  mirror=$(apt_mirror)
  work=$(mktemp -d /tmp/base-image.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  echo "base-image: debootstrap $suite from $mirror (a few minutes, once per machine)" >&2
  debootstrap --variant=minbase --include="$packages" "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
  root="$work/rootfs"
  ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  mkdir -p "$cache"
  tar -C "$root" --numeric-owner -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
fi

echo "base-image: importing $tarball as $image" >&2
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change "LABEL org.customerio-load-scale.recipe=$recipe" \
  --change 'CMD ["python3"]' \
  "$tarball" "$image" >/dev/null
echo "$image"
