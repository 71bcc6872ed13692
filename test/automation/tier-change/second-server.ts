/**
 * A second PostgreSQL server of this machine's own major version (the
 * Debian packages' binaries, MATIH_PG_BIN), started in a temporary directory
 * for one test file: the "dedicated" server of a tier change. The same major
 * as the shared one because a move goes both ways (enterprise → free dumps
 * the dedicated server, and the client tools here only dump servers up to
 * their own version; a dump only loads into the same or a newer server).
 * Password authentication on loopback, no Unix socket.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { clientBinDir } from "../../../automation/data-move/client-tools.ts";

const run = promisify(execFile);

export interface SecondServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** PostgreSQL refuses to run as root: under root the server runs as the `postgres` user. */
async function runAs(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

export async function startSecondServer(): Promise<SecondServer> {
  const dir = await mkdtemp(path.join(tmpdir(), "matih-second-pg-"));
  try {
    return await startIn(dir);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function startIn(dir: string): Promise<SecondServer> {
  const bin = clientBinDir();
  const owner = await runAs();
  // The server's user creates its data directory here.
  if (owner) await chown(dir, owner.uid, owner.gid);
  const data = path.join(dir, "data");
  const password = randomBytes(12).toString("hex");
  const pwfile = path.join(dir, "pw");
  await writeFile(pwfile, password, { mode: 0o600 });
  if (owner) await chown(pwfile, owner.uid, owner.gid);
  const asOwner = owner ? { uid: owner.uid, gid: owner.gid } : {};
  await new Promise<void>((resolve, reject) => {
    const p = spawn(path.join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8", "--locale=C"],
      { ...asOwner, stdio: ["ignore", "ignore", "pipe"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" } });
    let err = "";
    p.stderr.on("data", (b: Buffer) => { err += b.toString("utf8"); });
    p.once("error", reject);
    p.once("close", (code) => (code === 0 ? resolve() : reject(new Error(`initdb exited ${code}: ${err.trim().slice(-500)}`))));
  });
  const port = await freePort();
  const server = spawn(path.join(bin, "postgres"), ["-D", data, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off"],
    { ...asOwner, stdio: "ignore", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" } });
  const exited = new Promise<void>((resolve) => server.once("close", () => resolve()));
  // Ready when it accepts connections.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = await run(path.join(bin, "pg_isready"), ["-h", "127.0.0.1", "-p", String(port)]).then(() => true, () => false);
    if (ready) break;
    if (Date.now() > deadline || server.exitCode !== null) {
      server.kill("SIGKILL");
      throw new Error("the second PostgreSQL server did not start");
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    host: "127.0.0.1", port, user: "postgres", password,
    async stop() {
      // Fast shutdown of the server this file started (its own PID, nothing else).
      server.kill("SIGINT");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (server.exitCode === null) server.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    },
  };
}
