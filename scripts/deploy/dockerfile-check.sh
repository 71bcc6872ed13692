#!/usr/bin/env bash
# Checks a Dockerfile offline with BuildKit's own parser and lint rules (what
# `docker build --check` runs) and lists the build context its .dockerignore
# lets through: this machine has the docker CLI but no engine, so the image
# cannot be built here (docs/deploy.md).
#
#   bash scripts/deploy/dockerfile-check.sh <Dockerfile> [<context dir>]   # JSON on stdout
#
# The checker (dockerfile-check/, a small Go module pinned by its go.sum) is
# built once into the tools cache outside the repository, keyed by a hash of
# its sources, as scripts/local-cluster/build-tools.sh does.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/dockerfile-check"
cache="${MATIH_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/matih-tools}"
key="$(cd "$src" && cat go.mod go.sum main.go | sha256sum | cut -c1-12)"
bin="$cache/dockerfile-check-$key/dockerfile-check"
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "dockerfile-check: the Go toolchain is needed (go on PATH)" >&2; exit 3; }
  echo "dockerfile-check: building into $(dirname "$bin") (first time only)" >&2
  mkdir -p "$(dirname "$bin")"
  (cd "$src" && GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath -o "$bin.tmp.$$" . && mv "$bin.tmp.$$" "$bin") >&2
fi
exec "$bin" "$@"
