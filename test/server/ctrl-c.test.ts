import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CTRL_C_WINDOW_MS, interruptTracker } from "../../server/startup.ts";
import { logLines, spawnService } from "../support/entry-point.ts";

describe("what each SIGINT means", () => {
  it("stops on the first, takes a second within the window for the same Ctrl-C, forces on a third", () => {
    const next = interruptTracker(1_000);
    expect([next(10_000), next(10_005), next(10_010)]).toEqual(["stop", "same", "force"]);
  });

  it("forces on a second SIGINT after the window: a person pressing Ctrl-C again", () => {
    const next = interruptTracker(1_000);
    expect([next(10_000), next(11_001)]).toEqual(["stop", "force"]);
    const atEdge = interruptTracker(1_000);
    expect([atEdge(0), atEdge(1_000)]).toEqual(["stop", "same"]);
  });
});

const exists = (file: string) => stat(file).then(() => true, () => false);

describe("Ctrl-C under npm start: two SIGINTs at once", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("stops gracefully on the default path: exit 0, the embedded database stopped, the lock released", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "matih-ctrlc-"));
    dirs.push(dataDir);
    const service = spawnService({ MATIH_DATA_DIR: dataDir, MATIH_ENGINE: "render", PORT: "0", LOG_LEVEL: "info" }, { unset: ["DATABASE_URL", "MATIH_ADMIN_TOKEN", "MATIH_READ_TOKENS"] });
    try {
      await service.listening(120_000);
      expect(await exists(path.join(dataDir, "service.lock"))).toBe(true);
      const postmaster = Number((await readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8")).split("\n")[0]);
      // What the terminal and npm deliver for one Ctrl-C: two SIGINTs, well within the window of each other.
      service.child.kill("SIGINT");
      await new Promise((r) => setTimeout(r, Math.min(50, CTRL_C_WINDOW_MS / 4)));
      service.child.kill("SIGINT");
      expect(await service.exited(), service.output()).toBe(0);
      expect(await exists(path.join(dataDir, "service.lock"))).toBe(false);
      expect(() => process.kill(postmaster, 0)).toThrow();
      const lines = logLines(service.output());
      expect(lines.some((l) => l.msg === "stopping" && l.signal === "SIGINT")).toBe(true);
      expect(lines.some((l) => String(l.msg).includes("is the same Ctrl-C"))).toBe(true);
      expect(service.output()).not.toMatch(/second SIGINT, exiting|exiting without waiting/);
    } finally {
      if (service.child.exitCode === null) await service.stop("SIGTERM");
    }
  }, 180_000);
});
