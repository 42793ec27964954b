#!/bin/sh
# Role dispatcher of the suite's image: the first argument picks what this container runs, the rest
# is passed on. Options also come from the tools' own environment variables (LOCUST_USERS,
# LOCUST_RUN_TIME, LOCUST_HOST, ... for Locust; SANDBOX_WORKSPACES for the sandbox). Credentials come
# as files: NAME_FILE=/run/secrets/... (CIO_API_KEY_FILE, SANDBOX_WORKSPACES_FILE; plumbing/options.py).
set -eu
role="${1:-master}"
case "$role" in
  # Options alone mean the master, as with Locust's own image: `docker compose run master --headless ...`.
  -*) role=master ;;
  *) if [ "$#" -gt 0 ]; then shift; fi ;;
esac
case "$role" in
  master)
    # Web UI unless LOCUST_HEADLESS=true / --headless; workers connect on 5557. The UI listens on
    # every interface of the container: only the port compose publishes on 127.0.0.1 reaches it.
    exec locust -f "$LOCUSTFILE" --master --master-bind-port "${LOCUST_MASTER_BIND_PORT:-5557}" \
      --web-host "${LOCUST_WEB_HOST:-0.0.0.0}" "$@" ;;
  worker)
    # The locustfile brings locustfiles.master_watch: exit promptly when the master is gone, and touch
    # $LOCUST_HEARTBEAT_FILE for probes.
    exec locust -f "$LOCUSTFILE" --worker \
      --master-host "${LOCUST_MASTER_NODE_HOST:-master}" --master-port "${LOCUST_MASTER_NODE_PORT:-5557}" "$@" ;;
  sandbox)
    # Prometheus and the monitoring sampler scrape /metrics from other containers: set
    # SANDBOX_ADMIN_TOKEN (they send it as a Bearer token); without it only the health check answers them.
    exec python -m sandbox --bind 0.0.0.0 --port "${SANDBOX_PORT:-8080}" "$@" ;;
  ingest | sender)
    exec python -m pipeline "$role" "$@" ;;
  report)
    exec python -m analysis.report "$@" ;;
  capacity)
    exec python -m deploy.capacity "$@" ;;
  healthcheck)
    exec python -m deploy.healthcheck "$@" ;;
  *)
    exec "$role" "$@" ;;
esac
