# syntax=docker/dockerfile:1
# One image for every role of the suite: Locust master and worker, the sandbox, the pipeline's ingest
# and sender, and the analysis report. The role is the first argument (see deploy/docker/entrypoint.sh):
#   docker run IMAGE [master] [locust options] | worker | sandbox | ingest | sender | report RUN_DIR
#                    | capacity ... | healthcheck ... | <any command>
# No secret is baked in: site ids and API keys arrive as environment variables at run time.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Dependencies in a layer of their own, keyed only on pyproject.toml: editing code reuses it.
# Every dependency ships manylinux wheels (confluent-kafka bundles librdkafka), so no compiler is needed.
FROM base AS deps
COPY pyproject.toml /tmp/pyproject.toml
RUN python -m venv "$VIRTUAL_ENV" \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

FROM base AS runtime
RUN groupadd --gid 10001 loadtest \
 && useradd --uid 10001 --gid loadtest --home-dir /app --no-create-home --shell /usr/sbin/nologin loadtest
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
# Code only (the .dockerignore keeps tests, reports, venvs and secrets out).
COPY --chown=root:root plumbing/ plumbing/
COPY --chown=root:root cio_contract/ cio_contract/
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
