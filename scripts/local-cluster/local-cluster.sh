#!/usr/bin/env bash
# A local Kubernetes cluster for real Pulumi runs, in one command.
#
#   eval "$(bash scripts/local-cluster/local-cluster.sh up)"
#   bash scripts/local-cluster/local-cluster.sh env      # the exports again
#   bash scripts/local-cluster/local-cluster.sh status
#   bash scripts/local-cluster/local-cluster.sh down
#
# `up` builds or reuses the tools (build-tools.sh), then starts, all on
# 127.0.0.1: etcd; kube-apiserver (RBAC, the default admission plugins, quota
# enforcement) with its own CA, service-account keys and an admin kubeconfig;
# kube-controller-manager; kube-scheduler; kwok with three fake nodes (no
# kubelet: kwok marks scheduled pods Running and Ready, and pods of Jobs
# Succeeded; no container ever runs); a load-balancer allocator that gives
# Services of type LoadBalancer a loopback address; a Helm chart repository
# with the stand-in matih charts and the shared ingress-nginx chart; and a
# PostgreSQL server (TLS, a non-superuser admin with CREATEROLE) for the
# postgresql provider. It writes platform settings for this cluster.
#
# Progress goes to stderr. Stdout is only `export NAME=value` lines for `eval`.
# The state folder (MATIH_LOCAL_CLUSTER_DIR, default /tmp/matih-local-cluster)
# holds certificates, data, logs and pids; `down` stops every process `up`
# started and removes the folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
state="${MATIH_LOCAL_CLUSTER_DIR:-${TMPDIR:-/tmp}/matih-local-cluster}"
etcd_port="${MATIH_LC_ETCD_PORT:-23790}"
etcd_peer_port="${MATIH_LC_ETCD_PEER_PORT:-23800}"
api_port="${MATIH_LC_API_PORT:-26443}"
charts_port="${MATIH_LC_CHARTS_PORT:-28790}"
pg_port="${MATIH_LC_PG_PORT:-25432}"
service_cidr="10.0.0.0/16"
nodes="${MATIH_LC_NODES:-3}"

log() { printf '[local-cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pid_alive() { [ -f "$state/run/$1.pid" ] && kill -0 "$(cat "$state/run/$1.pid")" 2>/dev/null; }

# Starts a process in its own session, its output in logs/NAME.log.
start() {
  local name="$1"; shift
  if pid_alive "$name"; then log "$name already running (pid $(cat "$state/run/$name.pid"))"; return; fi
  setsid "$@" >"$state/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$state/run/$name.pid"
  log "$name started (pid $!, log $state/logs/$name.log)"
}

wait_for() {
  local what="$1" seconds="$2"; shift 2
  local deadline=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || die "$what not ready after ${seconds}s; see $state/logs/"
    sleep 0.5
  done
  log "$what ready"
}

kubectl_() { kubectl --kubeconfig "$state/kubeconfig" "$@"; }

pki() {
  local d="$state/pki"
  [ -f "$d/.done" ] && return
  mkdir -p "$d"
  log "making a CA, serving and client certificates, service-account keys"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=matih-local-cluster-ca" -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  cert() { # name subject sans
    openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$d/$1.key" -out "$d/$1.csr" 2>/dev/null
    local ext="$d/$1.ext"
    if [ -n "$3" ]; then printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" > "$ext"; else printf 'extendedKeyUsage=clientAuth\n' > "$ext"; fi
    openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 -extfile "$ext" -out "$d/$1.crt" 2>/dev/null
  }
  cert apiserver "/CN=kube-apiserver" "IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin "/O=system:masters/CN=matih-local-admin" ""
  cert postgres "/CN=127.0.0.1" "IP:127.0.0.1,DNS:localhost"
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  chmod 600 "$d"/*.key
  touch "$d/.done"
}

kubeconfig() {
  local d="$state/pki"
  cat > "$state/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: matih-local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(base64 -w0 < "$d/ca.crt")
users:
- name: matih-local-admin
  user:
    client-certificate-data: $(base64 -w0 < "$d/admin.crt")
    client-key-data: $(base64 -w0 < "$d/admin.key")
contexts:
- name: matih-local
  context: {cluster: matih-local, user: matih-local-admin}
current-context: matih-local
EOF
  chmod 600 "$state/kubeconfig"
}

control_plane() {
  local bin="$1" d="$state/pki"
  start etcd "$bin/etcd" --name local --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "local=http://127.0.0.1:$etcd_peer_port" --log-level warn --unsafe-no-fsync
  wait_for etcd 60 curl -fsS "http://127.0.0.1:$etcd_port/health"

  # Authorization and admission as on AKS: RBAC (and Node), the default
  # admission plugins (ResourceQuota, LimitRanger, ServiceAccount, …).
  start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --cert-dir "$state/apiserver" --tls-cert-file "$d/apiserver.crt" --tls-private-key-file "$d/apiserver.key" \
    --client-ca-file "$d/ca.crt" \
    --service-account-key-file "$d/sa.pub" --service-account-signing-key-file "$d/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range "$service_cidr" \
    --authorization-mode Node,RBAC --allow-privileged=true \
    --profiling=false
  wait_for kube-apiserver 120 kubectl_ get --raw /readyz

  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$state/kubeconfig" --leader-elect=false --bind-address 127.0.0.1 --secure-port 0 \
    --service-account-private-key-file "$d/sa.key" --root-ca-file "$d/ca.crt" \
    --cluster-signing-cert-file "$d/ca.crt" --cluster-signing-key-file "$d/ca.key" \
    --use-service-account-credentials=true --service-cluster-ip-range "$service_cidr" \
    --concurrent-gc-syncs 20 --concurrent-namespace-syncs 10 --profiling=false \
    --node-monitor-grace-period 5m
  start kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$state/kubeconfig" --leader-elect=false --bind-address 127.0.0.1 --secure-port 0 --profiling=false
  wait_for "the default service account" 120 kubectl_ get serviceaccount default -n default

  # Nodes report through leases, as kubelets do; on a busy 2-core host kwok's
  # renewals can come late, and a node marked NotReady marks its pods NotReady
  # too, so the controller manager above allows 5 minutes (AKS: 40 s): no node
  # fails here but by kwok's own delay.
  start kwok "$bin/kwok" --kubeconfig "$state/kubeconfig" --node-lease-duration-seconds 40 \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-ip 10.224.0.4 --cidr 10.244.0.0/16 --server-address 127.0.0.1:0
  local i
  for i in $(seq 1 "$nodes"); do
    kubectl_ apply -f - >&2 <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: local-$i
status:
  capacity: {cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 200Gi}
  allocatable: {cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 200Gi}
EOF
  done
  wait_for "$nodes kwok nodes Ready" 60 kubectl_ wait --for=condition=Ready node --all --timeout=1s

  start lb-allocator node "$here/lb-allocator.mjs" "$state"
}

chart_repository() {
  if [ ! -f "$state/charts/index.yaml" ]; then bash "$here/chart-repo.sh" build "$state/charts"; fi
  start chart-repo bash "$here/chart-repo.sh" serve "$state/charts" "$charts_port"
  wait_for "chart repository" 30 curl -fsS "http://127.0.0.1:$charts_port/index.yaml"
}

# The shared PostgreSQL server of the free and professional tiers: Debian's
# server binaries, a data folder of its own, TLS with the cluster's CA, and a
# non-superuser admin with CREATEROLE, as on an Azure flexible server.
postgres_server() {
  local pgbin; pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  [ -n "$pgbin" ] || die "PostgreSQL server binaries not found (Debian's postgresql package)"
  local data="$state/postgres" as=()
  if [ "$(id -u)" = 0 ]; then
    as=(runuser -u postgres --)
    # The server runs as postgres, which must reach its folder.
    local dir="$state"
    while [ "$dir" != "/" ]; do chmod o+x "$dir" 2>/dev/null || true; dir="$(dirname "$dir")"; done
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising PostgreSQL in $data"
    mkdir -p "$data"; [ "$(id -u)" = 0 ] && chown postgres "$data"
    "${as[@]}" "$pgbin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    install -m 600 "$state/pki/postgres.crt" "$data/server.crt"; install -m 600 "$state/pki/postgres.key" "$data/server.key"
    [ "$(id -u)" = 0 ] && chown postgres "$data/server.crt" "$data/server.key"
    cat >> "$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$data'
ssl = on
max_connections = 300
fsync = off
EOF
  fi
  if ! "${as[@]}" "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    "${as[@]}" "$pgbin/pg_ctl" -D "$data" -l "$data/server.log" -w start >/dev/null
    log "PostgreSQL started on 127.0.0.1:$pg_port"
  fi
  if [ ! -f "$state/pg-admin-password" ]; then
    (umask 077; openssl rand -hex 24 > "$state/pg-admin-password")
    "${as[@]}" psql -h "$data" -p "$pg_port" -U postgres -v ON_ERROR_STOP=1 -q >/dev/null <<EOF
CREATE ROLE matih_admin LOGIN CREATEROLE PASSWORD '$(cat "$state/pg-admin-password")';
CREATE DATABASE matih_tenants OWNER matih_admin;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
EOF
    log "PostgreSQL: database matih_tenants, admin matih_admin (CREATEROLE, not superuser)"
  fi
}

settings() {
  # Only what this cluster changes; everything else keeps the defaults. No
  # Azure is reachable here: phases 7-10 and the enterprise tier's dedicated
  # server stay under the mock runtime (docs/real-run.md), so no subscription
  # is named and the preflight refuses runs that would need one. kwok pulls no
  # image: the digests below name none, they only satisfy the preflight's rule
  # that every image a run deploys is pinned by digest.
  cat > "$state/platform-settings.json" <<EOF
{
  "kubernetes": {
    "kubeconfig": "$state/kubeconfig",
    "apiServerCidrs": ["127.0.0.1/32"]
  },
  "postgres": {
    "host": "127.0.0.1",
    "port": $pg_port,
    "database": "matih_tenants",
    "adminUser": "matih_admin",
    "sslMode": "require",
    "networkCidrs": ["127.0.0.1/32"]
  },
  "charts": {
    "repository": "http://127.0.0.1:$charts_port",
    "ingressNginxRepository": "http://127.0.0.1:$charts_port"
  },
  "images": {
    "defaultTag": "1.0.0@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "flyway": "flyway/flyway:11-alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "postgresClient": "postgres:16-alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "pgbouncer": "bitnamilegacy/pgbouncer:1.24.1@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "otelCollector": "otel/opentelemetry-collector-contrib:0.120.0@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "telemetrygen": "ghcr.io/open-telemetry/opentelemetry-collector-contrib/telemetrygen:v0.120.0@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "curl": "curlimages/curl:8.12.1@sha256:0000000000000000000000000000000000000000000000000000000000000000"
  }
}
EOF
}

print_env() {
  local bin; bin="$(bash "$here/build-tools.sh" --bin-dir)"
  cat <<EOF
export MATIH_LOCAL_CLUSTER='$state'
export KUBECONFIG='$state/kubeconfig'
export PATH='$bin':"\$PATH"
export MATIH_PULUMI_PLUGIN_DIR='$(bash "$here/build-tools.sh" --plugin-dir)'
export MATIH_PLATFORM_SETTINGS_FILE='$state/platform-settings.json'
export MATIH_PG_ADMIN_PASSWORD='$(cat "$state/pg-admin-password")'
EOF
}

up() {
  local started; started=$(date +%s)
  command -v kubectl >/dev/null || die "kubectl is needed on PATH"
  command -v openssl >/dev/null || die "openssl is needed on PATH"
  bash "$here/build-tools.sh" >&2
  local bin; bin="$(bash "$here/build-tools.sh" --bin-dir)"
  if [ -d "$state" ] && ! pid_alive kube-apiserver; then
    # Left by a machine or session that stopped without `down`: start clean, not on a half-old cluster.
    log "removing the stale state of a cluster that is no longer running ($state)"
    down
  fi
  mkdir -p "$state/run" "$state/logs"
  pki
  kubeconfig
  control_plane "$bin"
  chart_repository
  postgres_server
  settings
  log "up in $(( $(date +%s) - started )) s: API server https://127.0.0.1:$api_port, charts http://127.0.0.1:$charts_port, PostgreSQL 127.0.0.1:$pg_port"
  print_env
}

down() {
  local name
  for name in lb-allocator chart-repo kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    if pid_alive "$name"; then
      local pid; pid="$(cat "$state/run/$name.pid")"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      log "$name stopped"
    fi
  done
  if [ -f "$state/postgres/PG_VERSION" ]; then
    local pgbin; pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
    local as=(); [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$pgbin/pg_ctl" -D "$state/postgres" -m immediate stop >/dev/null 2>&1 && log "PostgreSQL stopped" || true
  fi
  rm -rf "$state"
  log "removed $state"
}

status() {
  local name
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kwok lb-allocator chart-repo; do
    if pid_alive "$name"; then echo "$name: running" >&2; else echo "$name: stopped" >&2; fi
  done
  kubectl_ get nodes >&2 2>&1 || true
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) [ -f "$state/pg-admin-password" ] || die "no local cluster at $state (run up)"; print_env ;;
  status) status ;;
  *) echo "usage: bash scripts/local-cluster/local-cluster.sh up|down|env|status" >&2; exit 2 ;;
esac
