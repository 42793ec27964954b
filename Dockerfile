# One image for every role of the suite: Locust master and worker, the sandbox, the pipeline's ingest
# and sender, and the analysis report. The role is the first argument (see deploy/docker/entrypoint.sh):
#   docker run IMAGE [master] [locust options] | worker | sandbox | ingest | sender | report RUN_DIR
#                    | capacity ... | healthcheck ... | <any command>
# No secret is baked in: site ids and API keys arrive as environment variables at run time.
# Works with the legacy builder and BuildKit alike (no syntax line: BuildKit would pull its frontend).
#
# BASE_IMAGE: any Debian-based image with python3.11+ (venv included) on PATH as `python`. Offline,
# scripts/base-image.sh makes one from Debian's packages (docs/containers.md, "Offline build").
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Dependencies in a layer of their own, keyed only on the runtime requirements (and the optional CA
# bundle): editing code, tests or dev tooling in pyproject.toml reuses it. Every dependency ships
# manylinux wheels (confluent-kafka bundles librdkafka), so no compiler is needed. Behind a
# TLS-intercepting proxy, put the proxy's CA bundle in the build context as .build-ca.crt
# (scripts/build-images.sh does): pip trusts it in the deps stage only, which never reaches the
# runtime stage (only /opt/venv is copied from there). PIP_INDEX_URL: a local package mirror.
FROM base AS requirements
COPY pyproject.toml .build-ca.cr[t] /tmp/build/
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/build/pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/build/requirements.txt \
 && rm /tmp/build/pyproject.toml

FROM base AS deps
ARG PIP_INDEX_URL=""
COPY --from=requirements /tmp/build/ /tmp/build/
RUN python -m venv "$VIRTUAL_ENV" \
 && if [ -f /tmp/build/.build-ca.crt ]; then export PIP_CERT=/tmp/build/.build-ca.crt; fi \
 && if [ -n "$PIP_INDEX_URL" ]; then export PIP_INDEX_URL; else unset PIP_INDEX_URL; fi \
 && pip install -r /tmp/build/requirements.txt \
 && rm -rf /tmp/build

FROM base AS runtime
RUN groupadd --gid 10001 loadtest \
 && useradd --uid 10001 --gid loadtest --home-dir /app --no-create-home --shell /usr/sbin/nologin loadtest
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
# Code only (the .dockerignore keeps tests, reports, venvs and secrets out).
COPY --chown=root:root plumbing/ plumbing/
COPY --chown=root:root cio_contract/ cio_contract/
COPY --chown=root:root httpserver/ httpserver/
COPY --chown=root:root sandbox/ sandbox/
COPY --chown=root:root pipeline/ pipeline/
COPY --chown=root:root analysis/ analysis/
COPY --chown=root:root locustfiles/ locustfiles/
COPY --chown=root:root runs/ runs/
COPY --chown=root:root deploy/ deploy/
# SLO thresholds per profile, for `report RUN_DIR --slo profiles/<name>.slo.yaml`.
COPY --chown=root:root profiles/ profiles/
COPY --chown=root:root pyproject.toml ./
# The code is read-only for the runtime user; only /app/reports (a volume) is writable.
RUN mkdir -p /app/reports && chown loadtest:loadtest /app/reports
# HOME and MPLCONFIGDIR point at the tmpfs: the root filesystem is read-only at run time.
ENV PYTHONPATH=/app \
    HOME=/tmp \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    LOCUSTFILE=/app/locustfiles/locustfile.py \
    LOCUST_HEARTBEAT_FILE=/tmp/locust-heartbeat
USER 10001:10001
VOLUME ["/app/reports"]
# 8089 Locust web UI, 5557 master<->worker, 8080 sandbox, 8000 ingest, 9100 sender /metrics
EXPOSE 8089 5557 8080 8000 9100
ENTRYPOINT ["/app/deploy/docker/entrypoint.sh"]
CMD ["master"]
