#!/usr/bin/env bash
# Writes one stand-in matih chart per line of a contract file, each a copy of
# the single template chart stand-in/ with its name, version and Services
# filled in:
#
#   bash scripts/local-cluster/charts/generate.sh <outDir> [contractFile]
#
# <outDir>/<chart>/ is an unpacked Helm v3 chart (apiVersion v2) named <chart>
# at version MATIH_CHART_VERSION (default 1.0.0, the settings' charts.version).
# contractFile defaults to contract.txt beside this script (the default
# charts.services of model/settings.ts). Prints the chart names on stdout, one
# a line; nothing else.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEMPLATE="$HERE/stand-in"
TEMPLATE_NAME="matih-stand-in"

die() { printf 'generate: ERROR: %s\n' "$*" >&2; exit 1; }

[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: bash scripts/local-cluster/charts/generate.sh <outDir> [contractFile]" >&2; exit 2; }
out="$1"
contract="${2:-$HERE/contract.txt}"
version="${MATIH_CHART_VERSION:-1.0.0}"

[[ -f "$contract" ]] || die "contract file $contract not found"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] || die "MATIH_CHART_VERSION \"$version\" is not a semantic version"
K8S_NAME='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'

mkdir -p "$out"
seen=" "
while read -r chart rest; do
  [[ -z "$chart" || "$chart" == \#* ]] && continue
  [[ "$chart" =~ $K8S_NAME ]] || die "$contract: chart name \"$chart\" is not a Kubernetes name"
  [[ "$seen" != *" $chart "* ]] || die "$contract: chart $chart listed twice"
  seen+="$chart "

  services=""
  for s in $rest; do
    name="${s%%:*}" port="${s#*:}"
    [[ "$s" == *:* && "$name" =~ $K8S_NAME && "$port" =~ ^[0-9]+$ ]] && (( port >= 1 && port <= 65535 )) \
      || die "$contract: $chart: \"$s\" is not service:port (a Kubernetes name and a TCP port)"
    services+="  - name: $name"$'\n'"    port: $port"$'\n'
  done

  dir="$out/$chart"
  rm -rf "$dir"
  cp -R "$TEMPLATE" "$dir"
  # Chart.yaml: the template's name and version become this chart's (its comment header goes).
  sed -e '/^#/d' -e "s/$TEMPLATE_NAME/$chart/g" -e "s/^version: .*/version: $version/" -e "s/^appVersion: .*/appVersion: \"$version\"/" \
    "$TEMPLATE/Chart.yaml" >"$dir/Chart.yaml"
  # values.yaml: the image repository is named after the chart; the Services are the contract's.
  awk -v chart="$chart" -v name="$TEMPLATE_NAME" -v services="$services" '
    { gsub(name, chart) }
    /^services: \[\]$/ && services != "" { printf "services:\n%s", services; next }
    { print }
  ' "$TEMPLATE/values.yaml" >"$dir/values.yaml"
  grep -q "^name: $chart\$" "$dir/Chart.yaml" && grep -q "^version: $version\$" "$dir/Chart.yaml" \
    || die "$dir/Chart.yaml: name or version not filled in"
  echo "$chart"
done <"$contract"
[[ "$seen" != " " ]] || die "$contract lists no chart"
