/**
 * One service process per data directory: a lock file holding the owner's
 * pid, created exclusively and kept for the process's life. A lock whose
 * process is gone (killed, crashed) is stale and taken over, so a restart
 * after SIGKILL needs no manual clean-up; a live owner is refused with one
 * line that names it.
 */
import { open, readFile, rm } from "node:fs/promises";
import path from "node:path";

export class DataDirLockedError extends Error {
  readonly ownerPid: number;
  constructor(dataDir: string, ownerPid: number) {
    super(`the data directory ${dataDir} is in use by another tenant-service process (pid ${ownerPid}); stop that process, or give this one its own MATIH_DATA_DIR (several processes share work through one DATABASE_URL)`);
    this.name = "DataDirLockedError";
    this.ownerPid = ownerPid;
  }
}

export interface DataDirLock {
  readonly file: string;
  /** The pid of a dead owner whose stale lock this process took over, else null. */
  readonly tookOverFrom: number | null;
  release(): Promise<void>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function acquireDataDirLock(dataDir: string): Promise<DataDirLock> {
  const file = path.join(dataDir, "service.lock");
  let tookOverFrom: number | null = null;
  for (let tries = 0; tries < 5; tries++) {
    try {
      const handle = await open(file, "wx", 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      let released = false;
      return {
        file,
        tookOverFrom,
        async release() {
          if (released) return;
          released = true;
          // Only our own lock: never remove one a successor wrote.
          const owner = Number((await readFile(file, "utf8").catch(() => "")).trim());
          if (owner === process.pid) await rm(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const owner = Number((await readFile(file, "utf8").catch(() => "")).trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) throw new DataDirLockedError(dataDir, owner);
    if (owner === process.pid) throw new DataDirLockedError(dataDir, owner);
    // Stale (or half-written by a process that died at once): remove and try again.
    tookOverFrom = Number.isInteger(owner) && owner > 0 ? owner : -1;
    await rm(file, { force: true });
  }
  throw new Error(`could not take the lock ${file}`);
}
