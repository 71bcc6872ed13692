#!/usr/bin/env bash
# The PostgreSQL server the tests use (TEST_DATABASE_URL's default,
# postgresql://postgres@127.0.0.1:5432/postgres): Debian's, installed if the
# machine lacks it, started if it is stopped. The tests connect over loopback
# as `postgres` with no password, so that one user is trusted on loopback;
# every other role keeps Debian's scram-sha-256 (tests check that other roles'
# passwords are asked for). For a throwaway test machine only.
set -euo pipefail
log() { printf '[test-postgres] %s\n' "$*" >&2; }

if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  log "installing Debian's postgresql"
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
fi
version="$(ls /etc/postgresql | sort -V | tail -n1)"
hba="/etc/postgresql/$version/main/pg_hba.conf"
rule_v4="host all postgres 127.0.0.1/32 trust"
rule_v6="host all postgres ::1/128 trust"
if ! grep -qxF "$rule_v4" "$hba"; then
  log "trusting the postgres user on loopback in $hba"
  # First match wins in pg_hba.conf: the rules go before Debian's own.
  { echo "# matih tests: the postgres user on loopback, no password"; echo "$rule_v4"; echo "$rule_v6"; cat "$hba"; } > "$hba.new"
  chown --reference="$hba" "$hba.new"; chmod --reference="$hba" "$hba.new"; mv "$hba.new" "$hba"
  if pg_isready -h 127.0.0.1 -p 5432 -q; then pg_ctlcluster --skip-systemctl-redirect "$version" main reload; fi
fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 >&2
psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 'PostgreSQL ' || current_setting('server_version') || ' answers as postgres without a password'" >&2
