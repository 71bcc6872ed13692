/**
 * Which service processes share this database, as seen by the Pulumi state
 * backend: every process holds a session-level advisory lock for its life,
 * shared when its backend is one every process reaches, exclusive when it is
 * a directory of its own host (see backendSharing). Postgres then refuses
 * the combination that loses stacks (a local file backend plus any other
 * process) at start-up, whichever process comes second, and forgets a process
 * the moment its session ends, crash included.
 */
import os from "node:os";
import type pg from "pg";
import type { BackendSharing } from "../../automation/index.ts";

/** Advisory lock key (two int4s): "mati" and 1, the state backend. */
const LOCK_CLASS = 0x6d617469;
const LOCK_ID = 1;

export class BackendSharingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BackendSharingError";
  }
}

export interface BackendClaim {
  /** Ends the claim (closes its session). */
  release(): Promise<void>;
}

/** What other processes holding the claim say about themselves. */
async function otherHolders(client: pg.PoolClient): Promise<string[]> {
  const { rows } = await client.query<{ application_name: string; backend_start: Date }>(
    `select a.application_name, a.backend_start
       from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.classid = $1 and l.objid = $2 and l.objsubid = 2 and l.pid <> pg_backend_pid() and l.granted
      order by a.backend_start`,
    [LOCK_CLASS, LOCK_ID],
  );
  return rows.map((r) => `${r.application_name || "a process"} (since ${r.backend_start.toISOString()})`);
}

export interface ClaimOptions {
  /** How this process names itself to the others; default `<hostname> pid <pid>`. */
  readonly who?: string;
  /** The claim's session ended (server restart, network): the lock is gone until the process restarts. */
  readonly onLost?: (error: Error) => void;
}

export async function claimStateBackend(pool: pg.Pool, sharing: BackendSharing, options: ClaimOptions = {}): Promise<BackendClaim> {
  const who = options.who ?? `${os.hostname()} pid ${process.pid}`;
  const client = await pool.connect();
  // An idle client whose connection dies emits 'error'; unhandled, that would end the process.
  client.on("error", (error) => options.onLost?.(error));
  try {
    // Names this process to the others' refusal messages; application_name is at most 63 bytes.
    await client.query("select set_config('application_name', $1, false)", [`matih ${who} ${sharing.mode}`.slice(0, 63)]);
    const fn = sharing.mode === "exclusive" ? "pg_try_advisory_lock" : "pg_try_advisory_lock_shared";
    const { rows } = await client.query<{ ok: boolean }>(`select ${fn}($1::int4, $2::int4) as ok`, [LOCK_CLASS, LOCK_ID]);
    if (!rows[0]!.ok) {
      const others = await otherHolders(client);
      const list = others.length > 0 ? others.join(", ") : "another service process";
      throw new BackendSharingError(
        sharing.mode === "exclusive"
          ? `refusing to start: ${list} shares this database, and ${sharing.remedy}`
          : `refusing to start: ${list} shares this database with a state backend on its own host's disk, so neither may take over the other's runs; ` +
            "give that process a backend every process reaches, or set MATIH_STATE_DIR_SHARED=true there if its directory is on shared storage",
      );
    }
  } catch (error) {
    client.release(true);
    throw error;
  }
  return {
    async release() {
      // Destroying the session releases its advisory lock; returning it to the pool would keep it.
      client.release(true);
    },
  };
}
