#!/usr/bin/env bash
# A local Helm chart repository for the local test cluster: the stand-in matih
# charts (charts/, one template generated per chart of charts/contract.txt) and
# the public ingress-nginx chart, served over plain HTTP on 127.0.0.1.
#
#   bash scripts/local-cluster/chart-repo.sh build <dir>
#       package every chart into <dir> as <name>-<version>.tgz (a gzipped tar
#       whose single top folder is the chart name) and write <dir>/index.yaml
#       (Helm repository index, apiVersion v1; relative urls, sha256 digests)
#   bash scripts/local-cluster/chart-repo.sh serve <dir> <port>
#       serve <dir> on http://127.0.0.1:<port> in the foreground until killed
#   bash scripts/local-cluster/chart-repo.sh template <repoUrl> <kubeVersion> (<chart> <version> <release> <namespace> <valuesFile>)+
#       render charts from the served repository with the real Helm engine
#       (helm-java, scripts/helm/helm.sh), found by name and version through
#       index.yaml as a Pulumi helm.v3.Release with repositoryOpts.repo finds them
#
# Nothing but `template`'s manifests goes to stdout; progress goes to stderr.
# Then set the settings' charts.repository and charts.ingressNginxRepository
# to http://127.0.0.1:<port>.
#
# Environment:
#   MATIH_CHART_VERSION     version of the stand-in charts (default 1.0.0, the settings' charts.version)
#   MATIH_STAND_IN_CONTRACT the charts and their Services (default charts/contract.txt)
#   MATIH_SHARED_CHARTS     folder holding ingress-nginx-<version>/ (default <repo>/../shared/charts)
#   MATIH_INGRESS_NGINX_VERSION  ingress-nginx chart version (default 4.12.1, the settings' charts.ingressNginxVersion)
#   SOURCE_DATE_EPOCH       `created`/`generated` time in the index (default: now)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
CHARTS="$HERE/charts"
SHARED_CHARTS="${MATIH_SHARED_CHARTS:-$REPO_ROOT/../shared/charts}"
INGRESS_NGINX_VERSION="${MATIH_INGRESS_NGINX_VERSION:-4.12.1}"

die() { printf 'chart-repo: ERROR: %s\n' "$*" >&2; exit 1; }
say() { printf 'chart-repo: %s\n' "$*" >&2; }
usage() {
  cat >&2 <<'USAGE'
usage: bash scripts/local-cluster/chart-repo.sh build <dir>
       bash scripts/local-cluster/chart-repo.sh serve <dir> <port>
       bash scripts/local-cluster/chart-repo.sh template <repoUrl> <kubeVersion> (<chart> <version> <release> <namespace> <valuesFile>)+
USAGE
  exit 2
}

# The value of a top-level key of a Chart.yaml (unquoted).
chart_field() {
  sed -n "s/^$2:[[:space:]]*//p" "$1/Chart.yaml" | head -n1 | sed -e 's/[[:space:]]*$//' -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"
}

# tar --exclude options from a chart's .helmignore (glob patterns; `dir/` means
# the directory). Negated patterns are not supported: refused rather than ignored.
helmignore_excludes() {
  local file="$1/.helmignore" line
  [[ -f "$file" ]] || return 0
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%$'\r'}"
    line="${line#"${line%%[![:space:]]*}"}"
    line="${line%"${line##*[![:space:]]}"}"
    [[ -z "$line" || "$line" == \#* ]] && continue
    [[ "$line" == \!* ]] && die "$file: negated pattern \"$line\" is not supported"
    printf -- '--exclude=%s\n' "${line%/}"
  done <"$file"
}

# Packages the chart folder $1 (whatever its folder name) as $2/<name>-<version>.tgz
# with the single top folder <name>. Byte for byte reproducible: fixed order,
# owners and times, and gzip without a name or time. Prints the file name.
package_chart() {
  local src="$1" dest="$2" name version stage
  [[ -f "$src/Chart.yaml" ]] || die "$src has no Chart.yaml"
  name="$(chart_field "$src" name)"
  version="$(chart_field "$src" version)"
  [[ -n "$name" && -n "$version" ]] || die "$src/Chart.yaml: no top-level name or version"
  [[ "$(chart_field "$src" apiVersion)" == v2 ]] || die "$src/Chart.yaml: apiVersion must be v2 (Helm 3)"
  for key in urls digest created removed; do
    grep -q "^$key:" "$src/Chart.yaml" && die "$src/Chart.yaml has a top-level \"$key\", which the index entry sets"
  done
  stage="$WORK/stage/$name"
  [[ -e "$stage" ]] && die "two charts named $name"
  mkdir -p "$WORK/stage"
  cp -R "$src" "$stage"
  local patterns
  patterns="$(helmignore_excludes "$src")"
  local -a excludes=()
  [[ -n "$patterns" ]] && mapfile -t excludes <<<"$patterns"
  tar --sort=name --format=ustar --owner=0 --group=0 --numeric-owner --mtime=@0 --mode='a+rX,u+w,go-w' \
    "${excludes[@]}" -C "$WORK/stage" -cf - "$name" | gzip -9 -n >"$dest/$name-$version.tgz"
  echo "$name-$version.tgz"
}

# The index entry of a packaged chart: its Chart.yaml (the chart's metadata, as
# `helm repo index` copies it) plus created, digest and a URL relative to the repository.
index_entry() {
  local src="$1" file="$2" created="$3" digest
  digest="$(sha256sum "$file" | cut -d' ' -f1)"
  printf '  %s:\n' "$(chart_field "$src" name)"
  # Top-level comments and document markers go; every other line moves under `  - `.
  sed -e '/^#/d' -e '/^---/d' -e '/^\.\.\.$/d' "$src/Chart.yaml" | awk '
    NF == 0 { print ""; next }
    !first { print "  - " $0; first = 1; next }
    { print "    " $0 }
  '
  printf '    created: "%s"\n    digest: %s\n    urls:\n    - %s\n' "$created" "$digest" "$(basename "$file")"
}

build() {
  local out="$1" created entries="" chart file
  mkdir -p "$out"
  out="$(cd "$out" && pwd)"
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/chart-repo.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
  if [[ -n "${SOURCE_DATE_EPOCH:-}" ]]; then
    created="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%S.%NZ)"
  else
    created="$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)"
  fi

  local -a sources=()
  local generated
  generated="$(bash "$CHARTS/generate.sh" "$WORK/charts" ${MATIH_STAND_IN_CONTRACT:+"$MATIH_STAND_IN_CONTRACT"})"
  for chart in $generated; do sources+=("$WORK/charts/$chart"); done
  local nginx="$SHARED_CHARTS/ingress-nginx-$INGRESS_NGINX_VERSION"
  [[ -f "$nginx/Chart.yaml" ]] || die "ingress-nginx $INGRESS_NGINX_VERSION not found at $nginx; set MATIH_SHARED_CHARTS to the folder holding ingress-nginx-$INGRESS_NGINX_VERSION/"
  [[ "$(chart_field "$nginx" name)" == ingress-nginx && "$(chart_field "$nginx" version)" == "$INGRESS_NGINX_VERSION" ]] \
    || die "$nginx/Chart.yaml is not ingress-nginx $INGRESS_NGINX_VERSION"
  sources+=("$nginx")

  # Replace what an earlier build left; index.yaml last, and whole, so a server
  # already running on <dir> never hands out an index without its packages.
  rm -f "$out"/*.tgz
  local -A entry_of=()
  for src in "${sources[@]}"; do
    file="$(package_chart "$src" "$out")"
    entry_of["$(chart_field "$src" name)"]="$(index_entry "$src" "$out/$file" "$created")"
    say "packaged $file"
  done
  {
    echo "apiVersion: v1"
    echo "entries:"
    while IFS= read -r chart; do printf '%s\n' "${entry_of[$chart]}"; done < <(printf '%s\n' "${!entry_of[@]}" | LC_ALL=C sort)
    printf 'generated: "%s"\n' "$created"
  } >"$out/index.yaml.tmp"
  mv "$out/index.yaml.tmp" "$out/index.yaml"
  say "wrote $out/index.yaml (${#entry_of[@]} charts)"
}

serve() {
  local dir="$1" port="$2"
  [[ -f "$dir/index.yaml" ]] || die "$dir/index.yaml not found; run: bash scripts/local-cluster/chart-repo.sh build $dir"
  [[ "$port" =~ ^[0-9]+$ ]] && (( port >= 1 && port <= 65535 )) || die "port \"$port\" is not a TCP port (1-65535)"
  command -v python3 >/dev/null || die "python3 not found (serve runs python3 -m http.server)"
  say "serving $(cd "$dir" && pwd) on http://127.0.0.1:$port"
  # http.server prints its banner on stdout and each request on stderr: all to stderr.
  exec python3 -m http.server --bind 127.0.0.1 --directory "$dir" "$port" >&2
}

template() {
  (( $# >= 7 && ($# - 2) % 5 == 0 )) || usage
  local home="${HELM_HOME_DIR:-$REPO_ROOT/.helm}"
  bash "$REPO_ROOT/scripts/helm/helm.sh" fetch >&2
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/chart-repo.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
  # A scratch Helm home: nothing read from or written to the user's.
  HELM_CACHE_HOME="$WORK/cache" HELM_CONFIG_HOME="$WORK/config" HELM_DATA_HOME="$WORK/data" \
    java -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$home/libs/*" "$CHARTS/RepoTemplate.java" \
    "$WORK/config/repositories.yaml" "$@"
}

case "${1:-}" in
  build) [[ $# -eq 2 ]] || usage; build "$2" ;;
  serve) [[ $# -eq 3 ]] || usage; serve "$2" "$3" ;;
  template) shift; template "$@" ;;
  *) usage ;;
esac
