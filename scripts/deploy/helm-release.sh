#!/usr/bin/env bash
# helm install / uninstall of a local chart with Helm's Go library (helm-java),
# for test/deploy: the same jars as scripts/helm/helm.sh (fetched there once),
# and HelmRelease.java compiled beside them under <repo>/.helm/deploy-classes.
#
#   bash scripts/deploy/helm-release.sh install <chartDir> <release> <namespace> <valuesFile> <kubeconfig>
#   bash scripts/deploy/helm-release.sh uninstall <release> <namespace> <kubeconfig>
#   bash scripts/deploy/helm-release.sh dry-run <chartDir> <release> <namespace> <valuesFile> <kubeVersion>
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
HOME_DIR="${HELM_HOME_DIR:-$REPO_ROOT/.helm}"
LIBS="$HOME_DIR/libs"
CLASSES="$HOME_DIR/deploy-classes"
SOURCE="$SCRIPT_DIR/HelmRelease.java"

# The jars: helm.sh fetches them once (and again when its pom changes).
bash "$REPO_ROOT/scripts/helm/helm.sh" fetch >&2
want="$(cat "$SOURCE" "$LIBS/.pom.sha256" | sha256sum | cut -d' ' -f1)"
have=""
[[ -f "$CLASSES/.source.sha256" ]] && have="$(cat "$CLASSES/.source.sha256")"
if [[ "$want" != "$have" || ! -f "$CLASSES/HelmRelease.class" ]]; then
  tmp="$HOME_DIR/deploy-classes.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  javac -nowarn -d "$tmp" -cp "$LIBS/*" "$SOURCE"
  echo "$want" >"$tmp/.source.sha256"
  rm -rf "$CLASSES"
  mv "$tmp" "$CLASSES"
fi
exec java -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$CLASSES:$LIBS/*" HelmRelease "$@"
