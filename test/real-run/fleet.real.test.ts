/**
 * Real runs: the service (`server/server.ts` in a process of its own, the
 * Pulumi engine, a file backend, passphrase secrets) drives the real `pulumi`
 * CLI and providers against the local cluster of
 * scripts/local-cluster/local-cluster.sh: a real API server with RBAC and
 * quota enforcement, kwok nodes, real Helm releases from a chart repository,
 * a real PostgreSQL server. Six tenants of the free and professional tiers in
 * two regions are requested at once to phase 6 (phases 7-10 need Azure DNS,
 * which is not reachable here), checked object by object, and torn down.
 *
 * Skipped, with the reason, when no local cluster is up; under CI=true a
 * missing cluster fails the suite (.ci/run starts one).
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnService, type ServiceProcess } from "../support/entry-point.ts";
import { api as adminApi, canI, kubectl, kubectlJson, probeLocalCluster, sharedServerAdmin, waitUntil, type LocalCluster } from "../support/local-cluster.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, freshDatabase } from "../support/service.ts";

const cluster = await probeLocalCluster();
const database = await probePostgres();
const skipReason = !cluster.available ? cluster.reason : !database.available ? database.reason : "";

/** Six tenants: both shared tiers, two regions. */
const TENANTS = [
  { slug: "rr-free-east", tier: "free", region: "eastus" },
  { slug: "rr-pro-east", tier: "professional", region: "eastus" },
  { slug: "rr-free-west", tier: "free", region: "westeurope" },
  { slug: "rr-pro-west", tier: "professional", region: "westeurope" },
  { slug: "rr-free-2", tier: "free", region: "westeurope" },
  { slug: "rr-pro-2", tier: "professional", region: "eastus" },
] as const;
const LAST_PHASE = 6;
/** The seed's quotas of the shared tiers, as literals (CPU request, CPU limit, memory request, memory limit, pods). */
const SEED_QUOTAS = {
  free: { "requests.cpu": "2", "limits.cpu": "4", "requests.memory": "4Gi", "limits.memory": "8Gi", pods: "20" },
  professional: { "requests.cpu": "8", "limits.cpu": "16", "requests.memory": "16Gi", "limits.memory": "32Gi", pods: "50" },
} as const;
const CORE_SERVICES = ["query-engine", "ai-service", "catalog-service"];
const DATA_SERVICES = ["pipeline-service", "semantic-layer", "bi-service", "data-quality-service", "ml-service", "render-service"];
const SETTLE_MS = 25 * 60_000;

type Json = any;
const api = (base: string, method: string, url: string, body?: unknown) => adminApi(base, ADMIN_TOKEN, method, url, body);



const namespaceOf = (slug: string) => `matih-${slug}`;

describe.skipIf(skipReason !== "")(`real runs against the local cluster${skipReason ? ` [skipped: ${skipReason}]` : ""}`, () => {
  const local = cluster as LocalCluster;
  const cleanup: (() => Promise<unknown>)[] = [];
  let service: ServiceProcess;
  let base = "";
  let backendDir = "";
  const statusBySlug = new Map<string, Json>();
  /** The service's warning and error log lines, for a failure's message. */
  const serviceErrors = () => service.output().split("\n").filter((line) => /"level":(40|50)/.test(line)).slice(-15).join("\n");

  beforeAll(async () => {
    const db = await freshDatabase("matih_real_run");
    cleanup.push(() => db.drop());
    const dataDir = await mkdtemp(path.join(tmpdir(), "matih-real-run-"));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    backendDir = path.join(dataDir, "state");
    service = spawnService({
      ...local.env,
      DATABASE_URL: db.url,
      MATIH_DATA_DIR: dataDir,
      MATIH_ENGINE: "pulumi",
      PULUMI_CONFIG_PASSPHRASE: "real-run-passphrase",
      MATIH_ADMIN_TOKEN: ADMIN_TOKEN,
      MATIH_MAX_CONCURRENT_OPERATIONS: "6",
      MATIH_WORKERS: "6",
      MATIH_RETRY_DELAY_SECONDS: "5",
      PORT: "0",
      LOG_LEVEL: "info",
    });
    cleanup.push(() => service.stop("SIGTERM"));
    base = await service.listening(300_000);
  }, 360_000);

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  }, 300_000);

  it("provisions six tenants requested at once to phase 6, each ACTIVE on its first attempt", async () => {
    const created = await Promise.all(TENANTS.map((t) => api(base, "POST", "/api/v1/tenants", {
      slug: t.slug, displayName: `Real run ${t.slug}`, tier: t.tier, region: t.region, adminEmail: `admin@${t.slug}.example`, lastPhase: LAST_PHASE,
    })));
    for (const res of created) expect(res.status, JSON.stringify(res.body)).toBe(202);
    await Promise.all(TENANTS.map(async (t) => {
      const status = await waitUntil(`${t.slug} to settle`, SETTLE_MS, async () => {
        const res = await api(base, "GET", `/api/v1/tenants/${t.slug}/provisioning/status`);
        return res.body?.run && ["SUCCEEDED", "FAILED", "CANCELLED"].includes(res.body.run.status) && res.body.status !== "PROVISIONING" ? res.body : undefined;
      });
      statusBySlug.set(t.slug, status);
    }));
    const summary = TENANTS.map((t) => {
      const s = statusBySlug.get(t.slug);
      return { slug: t.slug, status: s.status, attempt: s.run.attempt, error: s.error };
    });
    expect(summary, service.output().slice(-4000)).toEqual(TENANTS.map((t) => ({ slug: t.slug, status: "ACTIVE", attempt: 1, error: null })));
  }, SETTLE_MS + 60_000);

  it("reports phases 1-6 in order, each done only after the objects it made exist", async () => {
    for (const t of TENANTS) {
      const phases = statusBySlug.get(t.slug).phases as Json[];
      expect(phases.map((p) => p.status)).toEqual(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "PENDING", "PENDING", "PENDING", "PENDING"]);
      for (let i = 1; i < LAST_PHASE; i++) {
        // Phase N+1's first resource waits for phase N's children; phase N is reported done when its component's
        // outputs resolve, which the engine reports a moment after those children.
        expect(Date.parse(phases[i].startedAt), `${t.slug} phase ${i + 1} starts after phase ${i} started`).toBeGreaterThanOrEqual(Date.parse(phases[i - 1].startedAt));
        expect(Date.parse(phases[i].completedAt), `${t.slug} phase ${i + 1} is done after phase ${i}`).toBeGreaterThanOrEqual(Date.parse(phases[i - 1].completedAt));
      }
      const ns = namespaceOf(t.slug);
      // Phase 3 is done only once Helm saw every core service's pods Ready: each Deployment turned Available before.
      const deployments = (await kubectlJson(["get", "deployments", "-n", ns])).items as Json[];
      for (const name of CORE_SERVICES) {
        const deployment = deployments.find((d) => d.metadata.name === name);
        expect(deployment, `${ns}/${name}`).toBeDefined();
        const available = deployment.status.conditions.find((c: Json) => c.type === "Available" && c.status === "True");
        expect(available, `${ns}/${name} Available`).toBeDefined();
        // Condition times have whole seconds: the phase ends no earlier than the second the Deployment became Available.
        expect(Date.parse(phases[2].completedAt), `${t.slug} phase 3 done after ${name} was Available`).toBeGreaterThanOrEqual(Date.parse(available.lastTransitionTime));
      }
      // Phase 6 is done only once the controller's LoadBalancer Service has its address.
      const controller = await kubectlJson(["get", "service", `ingress-nginx-${t.slug}-controller`, "-n", ns]);
      expect(controller.status.loadBalancer.ingress?.[0]?.ip).toMatch(/^127\.0\.100\.\d+$/);
    }
  });

  it("creates every phase 1-6 object with the seed's names, labels and quotas, and each tenant's ingress controller under its own cluster-scoped names", async () => {
    const ingressClasses = (await kubectlJson(["get", "ingressclasses"])).items as Json[];
    for (const t of TENANTS) {
      const ns = namespaceOf(t.slug);
      const namespace = await kubectlJson(["get", "namespace", ns]);
      const tenantId = statusBySlug.get(t.slug).tenantId;
      expect(namespace.metadata.labels).toMatchObject({
        "matih.ai/tenant-id": tenantId, "matih.ai/tenant-slug": t.slug, "matih.ai/tier": t.tier, "matih.ai/region": t.region, "matih.ai/managed-by": "tenant-service",
      });
      expect(namespace.metadata.annotations["matih.ai/provisioned-by"]).toBeTruthy();
      const quota = await kubectlJson(["get", "resourcequota", "tenant-quota", "-n", ns]);
      expect(quota.spec.hard).toEqual(SEED_QUOTAS[t.tier]);
      await kubectlJson(["get", "serviceaccount", "tenant-workload", "-n", ns]);
      await kubectlJson(["get", "role", "tenant-workload", "-n", ns]);
      await kubectlJson(["get", "rolebinding", "tenant-workload", "-n", ns]);
      const secret = await kubectlJson(["get", "secret", "tenant-database-credentials", "-n", ns]);
      expect(Object.keys(secret.data).sort()).toEqual(["DATABASE_URL", "POSTGRES_DB", "POSTGRES_HOST", "POSTGRES_PASSWORD", "POSTGRES_PORT", "POSTGRES_USER"]);
      const deployments = ((await kubectlJson(["get", "deployments", "-n", ns])).items as Json[]).map((d) => d.metadata.name).sort();
      expect(deployments).toEqual([...CORE_SERVICES, ...DATA_SERVICES, `ingress-nginx-${t.slug}-controller`, ...(t.tier === "professional" ? ["pgbouncer"] : [])].sort());
      const policies = ((await kubectlJson(["get", "networkpolicies", "-n", ns])).items as Json[]).map((p) => p.metadata.name);
      expect(policies).toContain("default-deny-ingress");
      // Helm's own record of each release, in the tenant namespace.
      const releases = ((await kubectlJson(["get", "secrets", "-n", ns, "-l", "owner=helm"])).items as Json[]).map((s) => s.metadata.labels.name);
      expect(new Set(releases)).toEqual(new Set([...CORE_SERVICES, ...DATA_SERVICES, "ingress-nginx"]));
      // Cluster-scoped objects of the tenant's ingress-nginx carry its slug: no two tenants share one.
      expect(ingressClasses.map((c) => c.metadata.name)).toContain(`nginx-${t.slug}`);
      await kubectlJson(["get", "clusterrole", `ingress-nginx-${t.slug}`]);
      await kubectlJson(["get", "clusterrolebinding", `ingress-nginx-${t.slug}`]);
    }
    expect(ingressClasses.filter((c) => c.metadata.name.startsWith("nginx-rr-"))).toHaveLength(TENANTS.length);
  });

  it("creates each tenant's schema and login role in the real PostgreSQL, and the credentials connect", async () => {
    const admin = await sharedServerAdmin(local);
    try {
      for (const t of TENANTS) {
        const ns = namespaceOf(t.slug);
        const secret = await kubectlJson(["get", "secret", "tenant-database-credentials", "-n", ns]);
        const value = (key: string) => Buffer.from(secret.data[key], "base64").toString("utf8");
        const user = value("POSTGRES_USER");
        const { rows: schemas } = await admin.query("SELECT nspname, pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1", [user]);
        expect(schemas).toEqual([{ nspname: user, owner: user }]);
        const { rows: roles } = await admin.query("SELECT rolcanlogin, rolconnlimit, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = $1", [user]);
        expect(roles).toEqual([{ rolcanlogin: true, rolconnlimit: t.tier === "free" ? 20 : 60, rolsuper: false, rolcreaterole: false }]);
        const url = new URL(value("DATABASE_URL"));
        if (t.tier === "free") {
          // Free tenants connect straight to the shared server.
          expect(`${url.hostname}:${url.port}`).toBe(`${local.settings.postgres.host}:${local.settings.postgres.port}`);
        } else {
          // Professional tenants go through their PgBouncer, a Service in their namespace.
          expect(url.hostname).toBe(`pgbouncer.${ns}.svc.cluster.local`);
          await kubectlJson(["get", "service", "pgbouncer", "-n", ns]);
        }
        // The role's own password logs in to the shared server, and search_path is its schema.
        const asTenant = new pg.Client({
          host: local.settings.postgres.host, port: local.settings.postgres.port, database: decodeURIComponent(url.pathname.slice(1)),
          user, password: value("POSTGRES_PASSWORD"), ssl: { rejectUnauthorized: false },
        });
        await asTenant.connect();
        try {
          const { rows } = await asTenant.query("SELECT current_user, current_schemas(false)::text[] AS schemas");
          expect(rows[0]).toEqual({ current_user: user, schemas: [user] });
          expect(decodeURIComponent(url.password)).toBe(value("POSTGRES_PASSWORD"));
        } finally {
          await asTenant.end();
        }
      }
    } finally {
      await admin.end();
    }
  });

  it("gives each tenant's service accounts what they need in their namespace and nothing in another tenant's, as the API server decides", async () => {
    const others = (slug: string) => TENANTS.filter((t) => t.slug !== slug).map((t) => namespaceOf(t.slug));
    const problems: string[] = [];
    for (const t of TENANTS) {
      const ns = namespaceOf(t.slug);
      const accounts = { workload: `system:serviceaccount:${ns}:tenant-workload`, ingress: `system:serviceaccount:${ns}:ingress-nginx-${t.slug}` };
      for (const [role, user] of Object.entries(accounts)) {
        for (const other of others(t.slug).slice(0, 2)) {
          for (const [verb, resource] of [["get", "secrets"], ["list", "secrets"], ["list", "configmaps"], ["list", "pods"]] as const) {
            if (await canI(user, verb, resource, other)) problems.push(`${role} account of ${t.slug} can ${verb} ${resource} in ${other}`);
          }
        }
      }
      // What each needs at home: the controller reads its configuration and endpoints.
      for (const [verb, resource] of [["get", "configmaps"], ["list", "endpointslices.discovery.k8s.io"], ["update", "ingresses.networking.k8s.io/status"], ["watch", "ingresses.networking.k8s.io"]] as const) {
        if (!(await canI(accounts.ingress, verb, resource, ns))) problems.push(`ingress account of ${t.slug} cannot ${verb} ${resource} in its namespace`);
      }
      // The one cluster-scoped read it needs: IngressClasses.
      if (!(await canI(accounts.ingress, "list", "ingressclasses.networking.k8s.io", null))) problems.push(`ingress account of ${t.slug} cannot list IngressClasses`);
      for (const [verb, resource] of [["list", "secrets"], ["list", "nodes"], ["list", "namespaces"]] as const) {
        if (await canI(accounts.ingress, verb, resource, null)) problems.push(`ingress account of ${t.slug} can ${verb} ${resource} cluster-wide`);
      }
    }
    expect(problems).toEqual([]);
  });

  /** Requests a change and waits for its preview from the real engine. */
  async function previewedChange(slug: string, body: Record<string, unknown>): Promise<Json> {
    const requested = await api(base, "POST", `/api/v1/tenants/${slug}/changes`, body);
    expect(requested.status, JSON.stringify(requested.body)).toBe(202);
    const id = requested.body.id ?? requested.body.change?.id;
    return waitUntil(`the preview of ${slug}'s change`, 300_000, async () => {
      const change = (await api(base, "GET", `/api/v1/tenants/${slug}/changes/${id}`)).body;
      if (change.status === "PREVIEW_FAILED") {
        const audit = ((await api(base, "GET", `/api/v1/tenants/${slug}/audit?limit=500`)).body.items as Json[]).slice(-12).map((a) => `${a.entity} ${a.to}: ${a.message} ${JSON.stringify(a.details ?? {})}`);
        throw new Error(`the preview of ${slug}'s change failed: ${change.error}\n${audit.join("\n")}\n${serviceErrors()}`);
      }
      return change.status === "PENDING_REVIEW" ? change : undefined;
    });
  }

  async function approveAndSettle(slug: string, change: Json): Promise<Json> {
    const approved = await api(base, "POST", `/api/v1/tenants/${slug}/changes/${change.id}/approve`, { allowDestructive: change.preview.destructive });
    expect(approved.status, JSON.stringify(approved.body)).toBeLessThan(300);
    return waitUntil(`${slug}'s change to settle`, 600_000, async () => {
      const current = (await api(base, "GET", `/api/v1/tenants/${slug}/changes/${change.id}`)).body;
      return ["APPLIED", "FAILED", "STALE"].includes(current.status) ? current : undefined;
    });
  }

  const hardQuota = async (slug: string) => (await kubectlJson(["get", "resourcequota", "tenant-quota", "-n", namespaceOf(slug)])).spec.hard;
  const deploymentNames = async (slug: string) => ((await kubectlJson(["get", "deployments", "-n", namespaceOf(slug)])).items as Json[]).map((d) => d.metadata.name);

  it("changes tiers free → professional through review: the real engine's preview, then exactly that plan applied", async () => {
    const up = await previewedChange("rr-free-east", { tier: "professional", lastPhase: LAST_PHASE, reason: "real-run upgrade" });
    const quotaDiff = (change: Json) => (change.preview.changes as Json[]).find((c) => c.type === "kubernetes:core/v1:ResourceQuota")?.diffs.find((d: Json) => d.path === "spec.hard.pods");
    expect(quotaDiff(up)).toMatchObject({ old: "20", new: "50" });
    // The pool, created.
    const poolOps = (change: Json) => (change.preview.changes as Json[]).filter((c) => c.type === "kubernetes:apps/v1:Deployment" && c.name.endsWith("-pool")).map((c) => c.op);
    expect(poolOps(up)).toEqual(["create"]);

    const done = await approveAndSettle("rr-free-east", up);
    expect([done.status, done.error], JSON.stringify(done)).toEqual(["APPLIED", null]);
    expect(await hardQuota("rr-free-east")).toEqual(SEED_QUOTAS.professional);
    expect(await deploymentNames("rr-free-east")).toContain("pgbouncer");
    const tenant = (await api(base, "GET", "/api/v1/tenants/rr-free-east")).body;
    expect([tenant.tier, tenant.status]).toEqual(["professional", "ACTIVE"]);
  }, 1_200_000);

  it("changes tiers professional → free through review: the workloads roll under professional's quota, then the contract lowers it and removes the pool", async () => {
    const slug = "rr-pro-2";
    const down = await previewedChange(slug, { tier: "free", lastPhase: LAST_PHASE, reason: "real-run downgrade" });
    const changes = down.preview.changes as Json[];
    // The first update keeps professional's quota and pool (lowering the quota first refused every new pod: `exceeded quota`).
    expect(changes.filter((c) => c.type === "kubernetes:core/v1:ResourceQuota")).toEqual([]);
    expect(changes.filter((c) => c.name.endsWith("-pool") || c.name.endsWith("-pool-service")).map((c) => c.op)).toEqual([]);
    // The credentials Secret is updated in place, not deleted and created again under running pods.
    expect(changes.find((c) => c.type === "kubernetes:core/v1:Secret" && c.name.endsWith("-credentials"))?.op).toBe("update");
    expect(down.preview.tierChange).toMatchObject({ steps: ["switch", "contract"], move: null });
    expect(down.preview.tierChange.note).toContain("the professional tier's PgBouncer pool (2 replicas) is removed");

    const done = await approveAndSettle(slug, down);
    expect([done.status, done.error], JSON.stringify(done)).toEqual(["APPLIED", null]);
    expect(await hardQuota(slug)).toEqual(SEED_QUOTAS.free);
    expect(await deploymentNames(slug)).not.toContain("pgbouncer");
    expect(((await kubectlJson(["get", "services", "-n", namespaceOf(slug)])).items as Json[]).map((s) => s.metadata.name)).not.toContain("pgbouncer");
    const secret = await kubectlJson(["get", "secret", "tenant-database-credentials", "-n", namespaceOf(slug)]);
    const url = new URL(Buffer.from(secret.data.DATABASE_URL, "base64").toString("utf8"));
    expect(`${url.hostname}:${url.port}`).toBe(`${local.settings.postgres.host}:${local.settings.postgres.port}`);
    const admin = await sharedServerAdmin(local);
    try {
      const { rows } = await admin.query("SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", [decodeURIComponent(url.username)]);
      expect(rows).toEqual([{ rolconnlimit: 20 }]);
    } finally {
      await admin.end();
    }
    // Phase 2's sub-steps, in the audit log: the switch, then the contract after it.
    const audit = ((await api(base, "GET", `/api/v1/tenants/${slug}/audit?limit=500`)).body.items as Json[]).filter((a) => a.entity === "phase" && a.phase === 2 && /^(switch|contract):/.test(a.to ?? "")).sort((a, b) => a.id - b.id);
    expect(audit.map((a) => a.to)).toEqual(["switch:started", "switch:succeeded", "contract:started", "contract:succeeded"]);
    const tenant = (await api(base, "GET", `/api/v1/tenants/${slug}`)).body;
    expect([tenant.tier, tenant.status]).toEqual(["free", "ACTIVE"]);
  }, 1_200_000);

  it("refuses to apply a reviewed plan after the stack changed out of band: the change ends STALE and nothing of it is applied", async () => {
    const change = await previewedChange("rr-free-west", { tier: "professional", lastPhase: LAST_PHASE, reason: "real-run stale plan" });
    expect((change.preview.changes as Json[]).find((c) => c.type === "kubernetes:core/v1:LimitRange")?.op).toBe("update");
    // Out of band, after the review: the LimitRange the plan updates is gone, so the update would have to create it.
    await kubectl(["delete", "limitrange", "--all", "-n", namespaceOf("rr-free-west")]);
    const settled = await approveAndSettle("rr-free-west", change);
    expect(settled.status, JSON.stringify(settled)).toBe("STALE");
    expect(await deploymentNames("rr-free-west")).not.toContain("pgbouncer");
    expect(await hardQuota("rr-free-west")).toEqual(SEED_QUOTAS.free);
    expect((await api(base, "GET", "/api/v1/tenants/rr-free-west")).body.tier).toBe("free");
  }, 900_000);

  it("finds kubectl edits of a NetworkPolicy and the ResourceQuota as drift with their paths, and a converge change brings the tenant back IN_SYNC", async () => {
    const slug = "rr-free-2";
    const ns = namespaceOf(slug);
    await kubectl(["patch", "resourcequota", "tenant-quota", "-n", ns, "--type=merge", "-p", JSON.stringify({ spec: { hard: { pods: "99" } } })]);
    // A field the program sets. (A field it leaves unset, such as matchLabels under its empty podSelector, is not
    // Pulumi's under server-side apply, and an edit there is not seen: docs/real-run.md.)
    await kubectl(["patch", "networkpolicy", "default-deny-ingress", "-n", ns, "--type=json", "-p", JSON.stringify([{ op: "replace", path: "/spec/policyTypes", value: ["Egress"] }])]);
    const check = await api(base, "POST", `/api/v1/tenants/${slug}/drift-check`);
    expect(check.status, JSON.stringify(check.body)).toBe(200);
    expect(check.body.state).toBe("DRIFTED");
    const byType = new Map((check.body.drifted as Json[]).map((d) => [d.type, d]));
    expect(byType.get("kubernetes:core/v1:ResourceQuota")?.properties).toContain("spec.hard.pods");
    expect(byType.get("kubernetes:core/v1:ResourceQuota")?.differences).toContainEqual(expect.objectContaining({ path: "spec.hard.pods", recorded: "20", actual: "99" }));
    expect(byType.get("kubernetes:networking.k8s.io/v1:NetworkPolicy")?.properties, JSON.stringify(check.body.drifted)).toEqual(expect.arrayContaining([expect.stringMatching(/^spec\.policyTypes/)]));

    const converge = await previewedChange(slug, { lastPhase: LAST_PHASE, reason: "real-run converge" });
    const done = await approveAndSettle(slug, converge);
    expect([done.status, done.error], JSON.stringify(done)).toEqual(["APPLIED", null]);
    const after = await api(base, "POST", `/api/v1/tenants/${slug}/drift-check`);
    expect([after.body.state, after.body.drifted], JSON.stringify(after.body)).toEqual(["IN_SYNC", []]);
    expect((await hardQuota(slug)).pods).toBe("20");
  }, 900_000);

  it("rolls a platform settings change out to two tenants: each stack previewed in the background, reviewed, applied in waves, the new image running", async () => {
    const TAG = `2.0.1@sha256:${"1".repeat(64)}`;
    const selected = ["rr-free-2", "rr-free-east"];
    const imagesOf = async (slug: string) => ((await kubectlJson(["get", "deployments", "-n", namespaceOf(slug)])).items as Json[]).flatMap((d) => (d.spec.template.spec.containers as Json[]).map((c) => c.image as string));
    const aiServiceImage = async (slug: string) => (await imagesOf(slug)).find((image) => image.includes("/ai-service:"));
    const untouched = await aiServiceImage("rr-pro-west");
    expect(untouched).toBeDefined();

    const proposed = await api(base, "POST", "/api/v1/fleet/changes", { settings: { images: { tags: { "ai-service": TAG } } }, reason: "real-run ai-service 2.0.1", selector: { slugs: selected } });
    // The Pulumi engine previews stack by stack, in a background job: recorded at once.
    expect(proposed.status, JSON.stringify(proposed.body)).toBe(202);
    expect(proposed.body).toMatchObject({ status: "PREVIEWING", previewProgress: { done: 0, total: 2 } });
    const change = await waitUntil("the fleet change's preview", 600_000, async () => {
      const c = (await api(base, "GET", `/api/v1/fleet/changes/${proposed.body.id}`)).body;
      if (c.status === "PREVIEW_FAILED") throw new Error(`the fleet preview failed: ${c.previewError}\n${serviceErrors()}`);
      return c.status === "PENDING_REVIEW" ? c : undefined;
    });
    expect(change.preview, JSON.stringify(change.preview)).toMatchObject({ selected: 2, failed: [], notPreviewed: [], destructive: [] });
    // Both tenants change the same way: the core services' Helm release, and nothing else.
    expect(change.preview.groups.map((g: Json) => [g.slugs, g.changes.map((c: Json) => `${c.op} ${c.type}`)])).toEqual([[selected, ["update kubernetes:helm.sh/v3:Release"]]]);
    // Nothing ran on the proposed settings yet.
    expect(await aiServiceImage("rr-free-2")).not.toContain(TAG);

    const approved = await api(base, "POST", `/api/v1/fleet/changes/${change.id}/approve`, { waves: { canary: 1, growth: 2, concurrency: 2 } });
    expect(approved.status, JSON.stringify(approved.body)).toBe(202);
    const done = await waitUntil("the rollout", 900_000, async () => {
      const r = (await api(base, "GET", `/api/v1/fleet/rollouts/${approved.body.id}`)).body;
      return ["COMPLETED", "HALTED", "ABORTED"].includes(r.status) ? r : undefined;
    });
    const byTenant = Object.fromEntries((done.waves as Json[]).flatMap((w) => (w.tenants as Json[]).map((t) => [t.slug, [t.status, t.reason]])));
    expect([done.status, byTenant], JSON.stringify(done)).toEqual(["COMPLETED", { "rr-free-2": ["SUCCEEDED", null], "rr-free-east": ["SUCCEEDED", null] }]);
    expect((done.waves as Json[]).map((w) => w.tenants.length)).toEqual([1, 1]);
    // In the cluster: the new image where the change went, the old one elsewhere.
    for (const slug of selected) expect(await aiServiceImage(slug)).toBe(`matih.azurecr.io/ai-service:${TAG}`);
    expect(await aiServiceImage("rr-pro-west")).toBe(untouched);
    // The fleet view: the two on the new version, the others behind it.
    const behind = (await api(base, "GET", "/api/v1/fleet?behind=true&limit=50")).body;
    expect((behind.items as Json[]).map((t) => t.slug).sort()).toEqual(TENANTS.map((t) => t.slug).filter((s) => !selected.includes(s)).sort());
  }, 1_800_000);

  it("tears every tenant down: no object left in the cluster, schema and role dropped, stack removed, tenant DELETED", async () => {
    const deleted = await Promise.all(TENANTS.map((t) => api(base, "DELETE", `/api/v1/tenants/${t.slug}?confirm=${t.slug}`)));
    for (const res of deleted) expect(res.status, JSON.stringify(res.body)).toBe(202);
    await Promise.all(TENANTS.map((t) => waitUntil(`${t.slug} to be deleted`, SETTLE_MS, async () => {
      const res = await api(base, "GET", `/api/v1/tenants/${t.slug}/provisioning/status`);
      if (res.body?.status === "DELETED") return res.body;
      if (res.body?.run?.kind === "teardown" && res.body.run.status === "FAILED") throw new Error(`teardown of ${t.slug} failed: ${res.body.error}\n${serviceErrors()}`);
      return undefined;
    })));
    const admin = await sharedServerAdmin(local);
    try {
      for (const t of TENANTS) {
        const ns = namespaceOf(t.slug);
        // The namespace controller finishes what the teardown started.
        await waitUntil(`namespace ${ns} to go`, 120_000, async () => (await kubectl(["get", "namespace", ns, "--ignore-not-found", "-o", "name"])).trim() === "" ? true : undefined);
        expect((await kubectl(["get", "clusterrole,clusterrolebinding,ingressclass", "-o", "name"])).split("\n").filter((n) => n.includes(t.slug))).toEqual([]);
        const identifier = `tenant_${t.slug.replace(/-/g, "_")}`;
        const { rows } = await admin.query("SELECT (SELECT count(*)::int FROM pg_namespace WHERE nspname LIKE $1) AS schemas, (SELECT count(*)::int FROM pg_roles WHERE rolname LIKE $1) AS roles", [`${identifier}%`]);
        expect(rows[0], t.slug).toEqual({ schemas: 0, roles: 0 });
      }
    } finally {
      await admin.end();
    }
    // The stacks are gone from the backend (the CLI keeps a `.bak` of each last, emptied checkpoint).
    const stacksDir = path.join(backendDir, ".pulumi", "stacks", "matih-tenants");
    const stacks = await readdir(stacksDir).catch(() => [] as string[]);
    expect(stacks.filter((f) => f.startsWith("rr-") && f.endsWith(".json"))).toEqual([]);
    for (const backup of stacks.filter((f) => f.endsWith(".json.bak"))) {
      const checkpoint = JSON.parse(await readFile(path.join(stacksDir, backup), "utf8"));
      expect(checkpoint.checkpoint?.latest?.resources ?? [], backup).toEqual([]);
    }
  }, 1_200_000);
});
