#!/usr/bin/env bash
# Builds the real tools of the local cluster from their Go modules, into a
# cache outside the repository, and reuses what is there.
#
#   bash scripts/local-cluster/build-tools.sh [TOOL...]   # default: all
#   bash scripts/local-cluster/build-tools.sh --bin-dir    # prints the folder of the commands
#   bash scripts/local-cluster/build-tools.sh --plugin-dir # prints the folder of the provider plugins
#
# Each tool is one small Go module under tools/ with a pinned go.sum; its
# cache folder is keyed by the module's name and a hash of its go.mod, go.sum
# and Go sources, so a change of version builds anew and an unchanged module
# is reused. Progress goes to stderr; stdout stays empty (or, with --bin-dir
# or --plugin-dir, the one folder holding links to those binaries). Provider
# plugins (pulumi-resource-*) are kept apart from the commands: on PATH the
# CLI would take them as ambient plugins instead of the installed ones.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tools_dir="$here/tools"
cache="${MATIH_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/matih-tools}"
bin_dir="$cache/bin"
plugin_dir="$cache/plugins"
ALL_TOOLS=(pulumi pulumi-kubernetes standin-providers etcd kubernetes kwok)

log() { printf '[build-tools] %s\n' "$*" >&2; }

# The Go packages each module builds, and the -ldflags that give a binary its version.
packages_of() {
  case "$1" in
    pulumi) echo "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi" ;;
    pulumi-kubernetes) echo "." ;;
    standin-providers) echo "./cmd/pulumi-resource-random ./cmd/pulumi-resource-postgresql" ;;
    etcd) echo "go.etcd.io/etcd/server/v3" ;;
    kubernetes) echo "k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler" ;;
    kwok) echo "sigs.k8s.io/kwok/cmd/kwok" ;;
    *) log "unknown tool $1 (known: ${ALL_TOOLS[*]})"; exit 2 ;;
  esac
}

# The version a module requires of its main dependency, from its go.mod.
required_version() {
  (cd "$tools_dir/$1" && go list -m -f '{{.Version}}' "$2")
}

ldflags_of() {
  case "$1" in
    pulumi) echo "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$(required_version pulumi github.com/pulumi/pulumi/pkg/v3)" ;;
    pulumi-kubernetes) echo "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$(sed -n 's|^// plugin-version: ||p' "$tools_dir/pulumi-kubernetes/go.mod")" ;;
    kubernetes)
      local v; v=$(required_version kubernetes k8s.io/kubernetes)
      local p=k8s.io/client-go/pkg/version m=k8s.io/component-base/version
      local major=${v#v}; major=${major%%.*}; local minor=${v#v*.}; minor=${minor%%.*}
      echo "-X $p.gitVersion=$v -X $m.gitVersion=$v -X $p.gitMajor=$major -X $m.gitMajor=$major -X $p.gitMinor=$minor -X $m.gitMinor=$minor -X $p.gitTreeState=clean -X $m.gitTreeState=clean"
      ;;
    *) echo "" ;;
  esac
}

key_of() {
  local dir="$tools_dir/$1"
  (cd "$dir" && find . -type f \( -name go.mod -o -name go.sum -o -name '*.go' \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
}

# Upstream generates the provider's embedded schema at build time (its
# generate.go): the same, from the module's schema.json, into a copy of ours.
prepare_pulumi_kubernetes() {
  local work="$1" version
  version=$(sed -n 's|^// plugin-version: ||p' "$tools_dir/pulumi-kubernetes/go.mod")
  local src
  # `go list -m` names the module's folder only once it is in the module
  # cache, which a cold machine's is not: download it first.
  (cd "$work" && go mod download github.com/pulumi/pulumi-kubernetes/provider/v4) >&2
  src="$(cd "$work" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)/cmd/pulumi-resource-kubernetes"
  [ -f "$src/schema.json" ] || { log "pulumi-kubernetes: no schema.json under $src"; exit 1; }
  node -e '
    const fs = require("fs");
    const [src, out, version] = process.argv.slice(1);
    const schema = JSON.parse(fs.readFileSync(src + "/schema.json", "utf8"));
    schema.version = version;
    fs.writeFileSync(out + "/schema-embed.json", JSON.stringify(schema));
    fs.writeFileSync(out + "/terraform-mapping-embed.json", JSON.stringify(JSON.parse(fs.readFileSync(src + "/terraform-mapping.json", "utf8"))));
  ' "$src" "$work" "$version"
}

build_one() {
  local tool="$1" key out started
  key=$(key_of "$tool")
  out="$cache/$tool-$key"
  if [ -f "$out/.built" ]; then
    log "$tool: reusing $out"
  else
    started=$(date +%s)
    log "$tool: building into $out (Go build; the first build of a tool takes minutes on 2 cores)"
    local work; work=$(mktemp -d)
    cp -r "$tools_dir/$tool/." "$work/"
    if [ "$tool" = pulumi-kubernetes ]; then prepare_pulumi_kubernetes "$work"; fi
    mkdir -p "$out/bin"
    # shellcheck disable=SC2046
    (cd "$work" && GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath -ldflags "$(ldflags_of "$tool")" -o "$out/bin/" $(packages_of "$tool")) >&2
    rm -rf "$work"
    # Binaries named as the CLI looks for them.
    if [ "$tool" = etcd ]; then mv "$out/bin/server" "$out/bin/etcd"; fi
    if [ "$tool" = pulumi-kubernetes ]; then mv "$out/bin/pulumi-kubernetes" "$out/bin/pulumi-resource-kubernetes"; fi
    touch "$out/.built"
    log "$tool: built in $(( $(date +%s) - started )) s: $(ls "$out/bin" | tr '\n' ' ')"
  fi
  mkdir -p "$bin_dir" "$plugin_dir"
  for binary in "$out"/bin/*; do
    case "$(basename "$binary")" in
      pulumi-resource-*) ln -sfn "$binary" "$plugin_dir/$(basename "$binary")" ;;
      *) ln -sfn "$binary" "$bin_dir/$(basename "$binary")" ;;
    esac
  done
}

if [ "${1:-}" = "--bin-dir" ]; then echo "$bin_dir"; exit 0; fi
if [ "${1:-}" = "--plugin-dir" ]; then echo "$plugin_dir"; exit 0; fi
command -v go >/dev/null || { log "the Go toolchain is needed (go on PATH)"; exit 1; }
tools=("$@"); [ ${#tools[@]} -gt 0 ] || tools=("${ALL_TOOLS[@]}")
total_started=$(date +%s)
for tool in "${tools[@]}"; do build_one "$tool"; done
log "tools ready in $bin_dir ($(( $(date +%s) - total_started )) s)"
