/**
 * What the service writes to disk is its user's alone: the data directory
 * (also one an earlier version created world-readable), the admin token, and
 * the mails written without SMTP, which carry e-mail addresses. The real
 * entry point, as `npm start` runs it.
 */
import { spawn } from "node:child_process";
import { chmod, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { probePostgres } from "../support/postgres.ts";
import { freshDatabase, tenantRequest } from "../support/service.ts";

const pgProbe = await probePostgres();
const ROOT = path.resolve(import.meta.dirname, "../..");
const modeOf = async (file: string) => (await stat(file)).mode & 0o777;

describe.skipIf(!pgProbe.available)("files the service writes", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it("keeps the data directory and mail folder at 0700 and the admin token and mails at 0600, and names the token rule at start-up", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const dataDir = await mkdtemp(path.join(tmpdir(), "matih-modes-"));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    await chmod(dataDir, 0o755);
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: db.url, MATIH_DATA_DIR: dataDir, MATIH_ENGINE: "render", PORT: "0", LOG_LEVEL: "info", KAFKA_BROKERS: "", SMTP_URL: "", SMTP_HOST: "" };
    delete env.MATIH_ADMIN_TOKEN;
    delete env.MATIH_READ_TOKENS;
    const child = spawn(process.execPath, ["server/server.ts"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    cleanup.push(async () => child.kill("SIGKILL"));
    let out = "";
    child.stdout!.on("data", (d) => (out += String(d)));
    child.stderr!.on("data", (d) => (out += String(d)));

    const deadline = Date.now() + 60_000;
    let url: string | undefined;
    while (!url && Date.now() < deadline) {
      url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(url, out.slice(-2000)).toBeDefined();
    const token = (await readFile(path.join(dataDir, "admin-token"), "utf8")).trim();
    expect(out).toContain("every token must have at least 32 characters and at least 10^25 estimated guesses");
    expect(out).not.toContain(token);

    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const tenant = (await (await fetch(`${url}/api/v1/tenants`, { method: "POST", headers, body: JSON.stringify(tenantRequest("private")) })).json()) as { id: string };
    const mailDir = path.join(dataDir, "mail");
    let mails: string[] = [];
    while (mails.length === 0 && Date.now() < deadline + 60_000) {
      mails = await readdir(mailDir).catch(() => []);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(mails, `tenant ${tenant.id}: ${out.slice(-2000)}`).toHaveLength(1);

    expect(await modeOf(dataDir)).toBe(0o700);
    expect(await modeOf(path.join(dataDir, "admin-token"))).toBe(0o600);
    expect(await modeOf(mailDir)).toBe(0o700);
    expect(await modeOf(path.join(mailDir, mails[0]!))).toBe(0o600);
    child.kill("SIGTERM");
    expect(await new Promise((resolve) => child.once("exit", (code) => resolve(code)))).toBe(0);
  }, 180_000);
});
