#!/usr/bin/env bash
# The local cluster's one command (docs/real-run.md): `eval "$(bash scripts/local-cluster.sh up)"`,
# `bash scripts/local-cluster.sh down`. The work is in scripts/local-cluster/local-cluster.sh.
exec bash "$(dirname "${BASH_SOURCE[0]}")/local-cluster/local-cluster.sh" "$@"
