#!/usr/bin/env bash
# A Docker engine for the container tests, CI and anyone on this machine:
#
#   eval "$(scripts/docker-engine.sh env)"    # use the engine that answers, else start one (as root)
#   scripts/docker-engine.sh stop             # end the engine this script started (and remove its folder)
#   scripts/docker-engine.sh hold PID         # like env, for a process (the pytest session) ...
#   scripts/docker-engine.sh release PID      # ... which lets it go: the engine stops with its last holder
#   scripts/docker-engine.sh status
#
# An engine that already answers (DOCKER_HOST, or the default socket) is used as it is and never stopped.
# Otherwise, as root, Debian's docker.io is installed when missing and a private dockerd is started with
# every path under one folder (CIO_DOCKER_DIR, default /tmp/customerio-load-scale-docker): data-root,
# exec-root, pidfile, socket, log. Containers must not reach anything beyond this machine, so that engine
# runs with --bridge=none (no default bridge), --iptables=false, --ip-forward=false (the host keeps its
# own forwarding setting), its networks come from one address pool (CIO_DOCKER_POOL), and, where
# iptables works, packets from or to that pool are never forwarded. Compose projects then reach each
# other only on their own bridge network (service-name DNS works), or host loopback with
# `network_mode: host`. Stopping ends only the dockerd whose PID this script recorded.
set -euo pipefail

dir=${CIO_DOCKER_DIR:-/tmp/customerio-load-scale-docker}
pool=${CIO_DOCKER_POOL:-10.213.0.0/16}
sock="$dir/docker.sock"
rule_comment="customerio-load-scale docker pool"

die() { echo "docker-engine: $*" >&2; exit 2; }

answers() {  # answers DOCKER_HOST_VALUE: true when an engine replies there
  command -v docker >/dev/null || return 1
  DOCKER_HOST="$1" timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

ours_running() {  # our dockerd is alive: recorded PID, still a dockerd
  local pid
  [ -f "$dir/dockerd.pid" ] || return 1
  pid=$(cat "$dir/dockerd.pid")
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]
}

external_engine() {  # prints the DOCKER_HOST of an engine this script did not start, if one answers
  if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "unix://$sock" ] && answers "$DOCKER_HOST"; then
    echo "$DOCKER_HOST"
  elif [ -S /var/run/docker.sock ] && answers unix:///var/run/docker.sock; then
    echo unix:///var/run/docker.sock
  else
    return 1
  fi
}

install_packages() {  # Debian's engine and the base-image tool, without starting the system's dockerd
  local need=()
  command -v dockerd >/dev/null || need+=(docker.io)
  command -v docker >/dev/null || need+=(docker.io)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v iptables >/dev/null || need+=(iptables)
  [ ${#need[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${need[*]}: install Docker (docker.io on Debian) and debootstrap"
  echo "docker-engine: installing Debian packages: ${need[*]}" >&2
  # policy-rc.d 101: the package must not start the system dockerd (default bridge, NAT to the world).
  local policy=/usr/sbin/policy-rc.d had_policy=0
  [ -e "$policy" ] && had_policy=1
  [ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; }
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  [ "$had_policy" = 1 ] || rm -f "$policy"
}

pool_rules() {  # pool_rules -I|-D: never forward packets from or to the pool, except within it
  # (with br_netfilter, traffic between containers on one bridge passes FORWARD too).
  local action=$1 rule
  local rules=("-s $pool -j DROP" "-d $pool -j DROP" "-s $pool -d $pool -j ACCEPT")
  for rule in "${rules[@]}"; do
    # shellcheck disable=SC2086  # each rule is a list of iptables words
    if [ "$action" = -I ] && iptables -C FORWARD $rule -m comment --comment "$rule_comment" 2>/dev/null; then
      continue
    fi
    # shellcheck disable=SC2086
    iptables "$action" FORWARD $rule -m comment --comment "$rule_comment" 2>/dev/null || return 1
  done
}

start_engine() {
  [ "$(id -u)" -eq 0 ] || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}, /var/run/docker.sock); start one, or run this as root to start a private one"
  install_packages
  if ! pool_rules -I; then
    [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 0 ] \
      || die "iptables cannot block forwarding for $pool and net.ipv4.ip_forward is 1: containers could route off this machine; fix iptables or set net.ipv4.ip_forward=0"
  fi
  mkdir -p "$dir/data" "$dir/exec" "$dir/holders"
  chmod 700 "$dir"
  touch "$dir/.customerio-load-scale-engine"  # marks the folder as ours: stop removes only such a folder
  echo '{}' >"$dir/daemon.json"  # not the machine's /etc/docker/daemon.json
  setsid dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" --exec-root "$dir/exec" \
    --pidfile "$dir/dockerd.pid" --host "unix://$sock" --bridge=none --iptables=false --ip-forward=false \
    --ip-masq=false --default-address-pool "base=$pool,size=24" --log-level warn \
    </dev/null >"$dir/dockerd.log" 2>&1 9>&- &
  local deadline=$((SECONDS + 60))
  until answers "unix://$sock"; do
    if ! kill -0 $! 2>/dev/null; then
      tail -n 5 "$dir/dockerd.log" >&2
      die "dockerd exited while starting (log above, $dir/dockerd.log)"
    fi
    [ $SECONDS -lt $deadline ] || die "dockerd did not answer on $sock within 60 s (see $dir/dockerd.log)"
    sleep 0.5
  done
}

stop_engine() {
  if ours_running; then
    local pid
    pid=$(cat "$dir/dockerd.pid")
    # Containers and networks first: a network's bridge interface outlives the daemon otherwise.
    DOCKER_HOST="unix://$sock" docker ps -aq | xargs -r env DOCKER_HOST="unix://$sock" docker rm -f >/dev/null 2>&1 || true
    DOCKER_HOST="unix://$sock" docker network prune -f >/dev/null 2>&1 || true
    kill -TERM "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  pool_rules -D 2>/dev/null || true
  if [ -f "$dir/.customerio-load-scale-engine" ]; then
    # Leftover mounts (overlay layers, network namespaces) would keep rm from removing the folder.
    grep -o " $dir/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$dir"
  fi
}

live_holders() {  # holder files whose process still runs ("manual" always counts)
  local holder
  for holder in "$dir"/holders/*; do
    [ -e "$holder" ] || continue
    holder=${holder##*/}
    if [ "$holder" = manual ] || kill -0 "$holder" 2>/dev/null; then echo "$holder"; else rm -f "$dir/holders/$holder"; fi
  done
}

ensure() {  # ensure HOLDER: print the export line of a running engine, starting ours if none answers
  local holder=$1 external
  if external=$(external_engine); then
    echo "export DOCKER_HOST=$external"
    return
  fi
  (
    flock 9  # two sessions starting at once get one engine
    ours_running && answers "unix://$sock" || start_engine
    touch "$dir/holders/$holder"
  ) 9>"/tmp/customerio-load-scale-docker.lock"
  echo "export DOCKER_HOST=unix://$sock"
}

release() {  # release HOLDER: stop our engine once nobody holds it any more
  (
    flock 9
    rm -f "$dir/holders/$1"
    [ -n "$(live_holders)" ] || stop_engine
  ) 9>"/tmp/customerio-load-scale-docker.lock"
}

case "${1:-env}" in
  env | start) ensure manual ;;
  hold) ensure "${2:?hold needs the PID of the holding process}" ;;
  release) release "${2:?release needs the PID given to hold}" ;;
  stop) release manual ;;
  status)
    if external=$(external_engine); then echo "engine at $external (not started by this script)"
    elif ours_running; then echo "engine at unix://$sock, dockerd PID $(cat "$dir/dockerd.pid"), held by: $(live_holders | xargs)"
    else echo "no engine"; exit 1
    fi ;;
  *) die "unknown command ${1}; use env, stop, hold PID, release PID or status" ;;
esac
