import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { OperationCancelledError, OperationTimeoutError, StackNotFoundError, WorkerCrashedError } from "../../../automation/core/errors.ts";
import { ForkedJobRunner, NODE_VERSIONS_FOR_WORKERS, stripsTypesByDefault } from "../../../automation/isolation/forked-runner.ts";
import type { WorkerJob } from "../../../automation/isolation/protocol.ts";
import { OperationGate } from "../../../automation/core/operation-gate.ts";
import type { ProgressEventBody } from "../../../automation/core/types.ts";
import { runHungJob } from "../helpers/hung-job.ts";
import { eventually as eventuallyWithin, isAlive } from "../../support/processes.ts";

const runner = new ForkedJobRunner({ workerPath: fileURLToPath(new URL("../fixtures/misbehaving-worker.ts", import.meta.url)) });
const eventually = (check: () => boolean, what: string) => eventuallyWithin(check, what, 5000);

const job = (mode: string) => ({ mode }) as unknown as WorkerJob;
const never = () => new AbortController().signal;

describe("a worker process per operation", () => {
  it("runs each job in a process of its own and streams its events back", async () => {
    const events: ProgressEventBody[] = [];
    const result = (await runner.run(job("echo"), { signal: never(), graceMs: 1000, onEvent: (e) => events.push(e) })) as { pid: number; job: unknown };
    expect(result.pid).not.toBe(process.pid);
    expect(result.job).toEqual({ mode: "echo" });
    expect(events).toEqual([{ type: "diagnostic", severity: "warning", message: "hello from the worker", urn: null, phase: null }]);
  });

  it("keeps global state from leaking from one operation into the next", async () => {
    expect(await runner.run(job("leak-global"), { signal: never(), graceMs: 1000 })).toBe(1);
    expect(await runner.run(job("leak-global"), { signal: never(), graceMs: 1000 })).toBe(1);
  });

  it("brings typed errors back across the process boundary", async () => {
    await expect(runner.run(job("throw"), { signal: never(), graceMs: 1000 })).rejects.toBeInstanceOf(StackNotFoundError);
  });

  it("reports a worker that crashes as worker_crashed, with the end of what it wrote to stderr", async () => {
    const crash = runner.run(job("crash"), { signal: never(), graceMs: 1000 });
    await expect(crash).rejects.toBeInstanceOf(WorkerCrashedError);
    await expect(crash).rejects.toThrow(/exited with code 3[\s\S]*about to fall over/);
  });

  it("asks a worker to stop and returns what it reports when it stops cleanly", async () => {
    const controller = new AbortController();
    const running = runner.run(job("cooperative"), { signal: controller.signal, graceMs: 30_000 });
    setTimeout(() => controller.abort(new OperationTimeoutError(1000)), 200);
    expect(await running).toEqual({ stoppedBecause: "operation_timeout" });
  });

  it("kills a worker that ignores the cancel, and whatever it started, once the grace period is over", async () => {
    const { running, grandchild } = runHungJob(runner);
    await expect(running).rejects.toBeInstanceOf(OperationCancelledError);
    expect(grandchild()).toBeGreaterThan(0);
    await eventually(() => !isAlive(grandchild()), "the grandchild process is killed with its worker");
  });
});

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("admission of operations", () => {
  it("runs one operation per tenant at a time, in the order they arrived, while other tenants go ahead", async () => {
    const gate = new OperationGate({ maxConcurrent: 4 });
    const log: string[] = [];
    const first = deferred();
    const a1 = gate.run("acme", undefined, async () => {
      log.push("acme-1 start");
      await first.promise;
      log.push("acme-1 end");
    });
    const a2 = gate.run("acme", undefined, async () => {
      log.push("acme-2 start");
    });
    const g1 = gate.run("globex", undefined, async () => {
      log.push("globex-1 start");
    });
    await g1;
    expect(log).toEqual(["acme-1 start", "globex-1 start"]);
    first.resolve();
    await Promise.all([a1, a2]);
    expect(log).toEqual(["acme-1 start", "globex-1 start", "acme-1 end", "acme-2 start"]);
  });

  it("never runs more operations at once than the limit", async () => {
    const gate = new OperationGate({ maxConcurrent: 2 });
    let running = 0;
    let most = 0;
    const release = deferred();
    const all = ["a1a", "b2b", "c3c", "d4d", "e5e"].map((slug) =>
      gate.run(slug, undefined, async () => {
        running++;
        most = Math.max(most, running);
        await release.promise;
        running--;
      }),
    );
    await new Promise((r) => setTimeout(r, 20));
    expect(gate.active).toBe(2);
    release.resolve();
    await Promise.all(all);
    expect(most).toBe(2);
  });

  it("lets a queued operation be cancelled without running it or disturbing the one ahead", async () => {
    const gate = new OperationGate({ maxConcurrent: 1 });
    const first = deferred();
    let secondRan = false;
    const running = gate.run("acme", undefined, async (signal) => {
      await first.promise;
      return signal.aborted;
    });
    const controller = new AbortController();
    const queued = gate.run("acme", controller.signal, async () => {
      secondRan = true;
    });
    controller.abort();
    await expect(queued).rejects.toBeInstanceOf(OperationCancelledError);
    first.resolve();
    expect(await running).toBe(false);
    expect(secondRan).toBe(false);
  });

  it("cancels a tenant's running and queued operations through cancel(slug)", async () => {
    const gate = new OperationGate({ maxConcurrent: 1 });
    const started = deferred();
    const running = gate.run("acme", undefined, (signal) => {
      started.resolve();
      return new Promise((resolve) => signal.addEventListener("abort", () => resolve(signal.reason)));
    });
    const queued = gate.run("acme", undefined, async () => "ran");
    const queuedOutcome = queued.then(() => "ran", (error: unknown) => error);
    await started.promise;
    expect(gate.cancel("acme")).toBe(true);
    expect(await running).toBeInstanceOf(OperationCancelledError);
    expect(await queuedOutcome).toBeInstanceOf(OperationCancelledError);
    expect(gate.cancel("acme")).toBe(false);
  });
});

describe("what a worker process may see of the service's environment", () => {
  const serviceEnv: NodeJS.ProcessEnv = {
    ...process.env,
    MATIH_ADMIN_TOKEN: "admin-Zq7vK2pX9mWb4Ty8Rn3sLd6Hf-secret",
    MATIH_READ_TOKENS: "reader-one-Bv5nQ8wE3rT6yU1iO4pA7sD0f,reader-two-Jh2kL9mN4bV7cX1zQ5wE8r",
    DATABASE_URL: "postgresql://matih_service:db-pass-4711@db.internal:5432/matih",
    MATIH_MIGRATION_DATABASE_URL: "postgresql://matih_owner:owner-pass-0815@db.internal:5432/matih",
    SMTP_URL: "smtp://mailer:smtp-pass-1234@mail.internal:587",
    SMTP_PASSWORD: "smtp-separate-pass-5678",
    KAFKA_SASL_PASSWORD: "kafka-pass-9012",
    MATIH_PG_ADMIN_PASSWORD: "pg-admin-pass-3456",
    PULUMI_CONFIG_PASSPHRASE: "state-passphrase-7890",
    ARM_CLIENT_SECRET: "azure-client-secret-2468",
    MATIH_RENDER_PACE: "0",
  };
  const envRunner = new ForkedJobRunner({ workerPath: fileURLToPath(new URL("../fixtures/misbehaving-worker.ts", import.meta.url)), env: serviceEnv });

  it("passes what the engine and providers need and none of the service's own credentials", async () => {
    const jobWithSettings = { mode: "env", kind: "pulumi", request: { settings: { postgres: { adminPasswordEnv: "MATIH_PG_ADMIN_PASSWORD" } } } } as unknown as WorkerJob;
    const { env } = (await envRunner.run(jobWithSettings, { signal: never(), graceMs: 1000 })) as { env: Record<string, string> };
    for (const name of ["MATIH_ADMIN_TOKEN", "MATIH_READ_TOKENS", "DATABASE_URL", "MATIH_MIGRATION_DATABASE_URL", "SMTP_URL", "SMTP_PASSWORD", "KAFKA_SASL_PASSWORD"]) {
      expect(env[name], name).toBeUndefined();
    }
    expect(env).toMatchObject({ PATH: process.env.PATH, PULUMI_CONFIG_PASSPHRASE: "state-passphrase-7890", ARM_CLIENT_SECRET: "azure-client-secret-2468", MATIH_PG_ADMIN_PASSWORD: "pg-admin-pass-3456", MATIH_RENDER_PACE: "0" });
    // Nothing named MATIH_, KAFKA_, SMTP_ or DATABASE_ beyond the allow-list reaches the worker.
    expect(Object.keys(env).filter((n) => /^(MATIH_|KAFKA_|SMTP_|DATABASE_)/.test(n) && !n.startsWith("MATIH_RENDER_") && n !== "MATIH_PG_ADMIN_PASSWORD")).toEqual([]);
  });

  it("scrubs every credential from a crashed worker's output: tokens, database URLs and their passwords, SMTP, Kafka and the Postgres admin password", async () => {
    const printed = [
      serviceEnv.MATIH_ADMIN_TOKEN, "reader-two-Jh2kL9mN4bV7cX1zQ5wE8r", serviceEnv.DATABASE_URL, "owner-pass-0815",
      "smtp-pass-1234", serviceEnv.SMTP_PASSWORD, serviceEnv.KAFKA_SASL_PASSWORD, serviceEnv.MATIH_PG_ADMIN_PASSWORD,
    ].join(" ");
    const error = await envRunner.run({ mode: "crash-echo", echo: printed } as unknown as WorkerJob, { signal: never(), graceMs: 1000 }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(WorkerCrashedError);
    const message = (error as Error).message;
    expect(message).toContain("worker: giving up:");
    for (const secret of ["Zq7vK2pX9mWb4Ty8Rn3sLd6Hf", "Jh2kL9mN4bV7cX1zQ5wE8r", "db-pass-4711", "owner-pass-0815", "smtp-pass-1234", "smtp-separate-pass-5678", "kafka-pass-9012", "pg-admin-pass-3456"]) {
      expect(message, secret).not.toContain(secret);
    }
  });
});

describe("the Node versions the workers need", () => {
  // From Node's changelog: type stripping is on by default from 23.6.0 and, backported, 22.18.0.
  const stripping = ["22.18.0", "22.23.3", "23.6.0", "24.0.0", "26.1.0"];
  const notStripping = ["20.20.2", "22.12.0", "22.17.1", "23.5.0"];

  it("knows which Node versions run forked .ts workers without flags", () => {
    for (const v of stripping) expect(stripsTypesByDefault(v), v).toBe(true);
    for (const v of notStripping) expect(stripsTypesByDefault(v), v).toBe(false);
    expect(stripsTypesByDefault(process.version)).toBe(true);
  });

  it("has package.json admit exactly such versions in engines, as the runner states them", async () => {
    const semver = createRequire(import.meta.url)("semver") as { satisfies(version: string, range: string): boolean };
    const pkg = JSON.parse(await readFile(new URL("../../../package.json", import.meta.url), "utf8")) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(NODE_VERSIONS_FOR_WORKERS);
    for (const v of stripping) expect(semver.satisfies(v, pkg.engines.node), v).toBe(true);
    for (const v of notStripping) expect(semver.satisfies(v, pkg.engines.node), v).toBe(false);
  });
});
