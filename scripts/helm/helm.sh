#!/usr/bin/env bash
# A real Helm engine for the tests: Helm's Go library from Maven Central
# (com.marcnuri.helm-java, scripts/helm/pom.xml) driven by HelmTemplate.java.
#
#   bash scripts/helm/helm.sh fetch        # fetch the jars once (re-fetched when pom.xml changes)
#   bash scripts/helm/helm.sh template <chartDir> <kubeVersion> (<release> <namespace> <valuesFile>)+
#                                          # render like `helm template`, one JVM for every release
#
# The jars come from Maven Central because no other download is possible here.
# They live under HELM_HOME_DIR (default <repo>/.helm, git-ignored):
#   libs/        helm-java, its JNA bindings and the linux-amd64 native library
#   classes/     HelmTemplate compiled once (recompiled when the source changes)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
POM="$SCRIPT_DIR/pom.xml"
SOURCE="$SCRIPT_DIR/HelmTemplate.java"

HOME_DIR="${HELM_HOME_DIR:-$REPO_ROOT/.helm}"
LIBS="$HOME_DIR/libs"
CLASSES="$HOME_DIR/classes"

die() { printf 'helm: ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=../lib/maven-jars.sh
source "$SCRIPT_DIR/../lib/maven-jars.sh"

fetch_jars() {
  maven_jars "$POM" "$LIBS" "$HOME_DIR" "helm-java-*.jar" "helm-java"
}

compile_runner() {
  local want have=""
  want="$(cat "$SOURCE" "$LIBS/.pom.sha256" | sha256sum | cut -d' ' -f1)"
  [[ -f "$CLASSES/.source.sha256" ]] && have="$(cat "$CLASSES/.source.sha256")"
  [[ "$want" == "$have" && -f "$CLASSES/HelmTemplate.class" ]] && return 0
  local tmp="$HOME_DIR/classes.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  javac -nowarn -d "$tmp" -cp "$LIBS/*" "$SOURCE" || die "javac HelmTemplate.java failed"
  echo "$want" >"$tmp/.source.sha256"
  rm -rf "$CLASSES"
  mv "$tmp" "$CLASSES"
}

case "${1:-}" in
  fetch)
    fetch_jars
    compile_runner
    ;;
  template)
    shift
    fetch_jars
    compile_runner
    # C1 only: a single short render does not pay for the full JIT on 2 shared cores.
    exec java -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$CLASSES:$LIBS/*" HelmTemplate "$@"
    ;;
  *)
    echo "usage: bash scripts/helm/helm.sh fetch | template <chartDir> <kubeVersion> (<release> <namespace> <valuesFile>)+" >&2
    exit 2
    ;;
esac
