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

fetch_jars() {
  command -v java >/dev/null || die "java not found (helm-java needs Java 17+)"
  local want have=""
  want="$(sha256sum "$POM" | cut -d' ' -f1)"
  [[ -f "$LIBS/.pom.sha256" ]] && have="$(cat "$LIBS/.pom.sha256")"
  if [[ "$want" == "$have" ]] && compgen -G "$LIBS/helm-java-*.jar" >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found: it is needed once to fetch helm-java from Maven Central"
  printf 'helm: fetching helm-java from Maven Central into %s (first run only) ...\n' "$LIBS" >&2
  local tmp="$HOME_DIR/libs.tmp"
  rm -rf "$tmp"
  mkdir -p "$HOME_DIR"
  if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
    -DoutputDirectory="$tmp" -DincludeScope=runtime >"$HOME_DIR/mvn.log" 2>&1; then
    tail -n 40 "$HOME_DIR/mvn.log" >&2
    die "mvn dependency:copy-dependencies failed (full output: $HOME_DIR/mvn.log)"
  fi
  echo "$want" >"$tmp/.pom.sha256"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
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
