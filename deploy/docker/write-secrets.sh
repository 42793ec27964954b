#!/bin/sh
# Write the credentials docker-compose.yml hands its containers as secret files, so that no value
# sits in a container's environment (`docker inspect` shows only the /run/secrets/... paths):
#
#   export CIO_SITE_ID=... CIO_API_KEY=...   # required (any values for the sandbox)
#   deploy/docker/write-secrets.sh           # ./secrets/, next to docker-compose.yml (git-ignored)
#
# Optional: CIO_APP_API_KEY and CIO_CDP_API_KEY (sandbox defaults; set them for a real workspace),
# SANDBOX_ADMIN_TOKEN (the token other containers send to the sandbox's admin API and /metrics;
# default: the one already in ./secrets, else a new random one). CIO_SECRETS_DIR moves the folder.
#
# The folder is mode 700: nobody else on the host can enter it. The files in it are 644 because
# compose without swarm bind-mounts each one as it is (the `uid`/`gid`/`mode` of `secrets:` are
# ignored) and the containers run as uid 10001, not as you.
set -eu
cd "$(dirname "$0")/../.."
: "${CIO_SITE_ID:?set CIO_SITE_ID (any value for the sandbox)}"
: "${CIO_API_KEY:?set CIO_API_KEY (any value for the sandbox)}"
app=${CIO_APP_API_KEY:-sandbox-app-key}
cdp=${CIO_CDP_API_KEY:-sandbox-cdp-key}
dir=${CIO_SECRETS_DIR:-secrets}
case "$CIO_SITE_ID$CIO_API_KEY$app$cdp" in
  *[:,[:space:]]*) echo "write-secrets: credentials must not contain ':', ',' or spaces" >&2; exit 2 ;;
esac

umask 077
mkdir -p "$dir"
chmod 700 "$dir"
token=${SANDBOX_ADMIN_TOKEN:-}
if [ -z "$token" ] && [ -s "$dir/sandbox_admin_token" ]; then
  token=$(cat "$dir/sandbox_admin_token")
fi
if [ -z "$token" ]; then
  token=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
fi

write() {  # write NAME VALUE: replaced whole, never half-written
  printf '%s\n' "$2" >"$dir/.$1.new"
  chmod 644 "$dir/.$1.new"
  mv -f "$dir/.$1.new" "$dir/$1"
}
write cio_site_id "$CIO_SITE_ID"
write cio_api_key "$CIO_API_KEY"
write cio_app_api_key "$app"
write cio_cdp_api_key "$cdp"
# The sandbox accepts exactly the workspace the load generators use: all four credentials, or App
# and Pipelines requests get 401. Ingest and the senders take site id and Track key.
write sandbox_workspaces "$CIO_SITE_ID:$CIO_API_KEY:$app:$cdp"
write pipeline_workspaces "$CIO_SITE_ID:$CIO_API_KEY"
write sandbox_admin_token "$token"
echo "write-secrets: wrote $dir/ (cio_site_id, cio_api_key, cio_app_api_key, cio_cdp_api_key, sandbox_workspaces, pipeline_workspaces, sandbox_admin_token)" >&2
