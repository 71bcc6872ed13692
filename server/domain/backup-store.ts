/**
 * Where tenant backups are kept. Production keeps them in Azure Blob Storage
 * (off the service's host, so a lost host loses no backup); the render engine
 * and the tests keep them in a private local folder. Both take a finished
 * dump file from the service's private work folder and hand one back for a
 * restore.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, copyFile, mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface BackupStore {
  readonly kind: "local" | "azure";
  /** A folder only this service's user may read, for dumps on their way in and out of the store. */
  readonly workDir: string;
  /** Keeps `file` (a finished dump in `workDir`) under `name`; answers where it is, with no secret in it. */
  put(name: string, file: string): Promise<string>;
  /** Copies the backup at `location` into `file`. */
  get(location: string, file: string): Promise<void>;
  /** Deletes the backup at `location`; one already gone is no error. */
  remove(location: string): Promise<void>;
}

/** Makes `dir` (and its parents) and sets it to 0700 even when it existed: backups hold every tenant's data. */
export async function privateDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  return dir;
}

const NAME = /^[A-Za-z0-9._-]{1,200}$/;

/** A folder on the service's host: 0700, each backup 0600. */
export class LocalBackupStore implements BackupStore {
  readonly kind = "local" as const;
  readonly dir: string;
  readonly workDir: string;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
    this.workDir = path.join(this.dir, ".work");
  }

  async init(): Promise<this> {
    await privateDir(this.dir);
    await privateDir(this.workDir);
    return this;
  }

  async put(name: string, file: string): Promise<string> {
    if (!NAME.test(name)) throw new Error(`backup name ${JSON.stringify(name)} is not a plain file name`);
    const target = path.join(this.dir, name);
    await chmod(file, 0o600);
    // Same file system (the work folder is inside): the backup appears whole or not at all.
    await rename(file, target);
    return target;
  }

  async get(location: string, file: string): Promise<void> {
    await copyFile(this.inside(location), file);
    await chmod(file, 0o600);
  }

  async remove(location: string): Promise<void> {
    await rm(this.inside(location), { force: true });
  }

  /** Only files of this folder: a location from the database never reaches elsewhere on the host. */
  private inside(location: string): string {
    const resolved = path.resolve(location);
    if (path.dirname(resolved) !== this.dir) throw new Error(`backup ${location} is not in the backup folder ${this.dir}`);
    return resolved;
  }
}

/**
 * Azure Blob Storage through its REST API (Put Blob, Get Blob, Delete Blob)
 * with a SAS token for the container. The token is a secret: it is sent, never
 * kept in a location or logged. One Put Blob holds up to 5000 MiB; a larger
 * dump needs block uploads (not done). NOT TESTED here: no storage account is
 * reachable from this repository's tests (the local store is what they use).
 */
export class AzureBlobBackupStore implements BackupStore {
  readonly kind = "azure" as const;
  readonly workDir: string;
  private readonly containerUrl: string;
  private readonly sasToken: string;

  constructor(options: { containerUrl: string; sasToken: string; workDir: string }) {
    this.containerUrl = options.containerUrl.replace(/\/+$/, "");
    this.sasToken = options.sasToken.replace(/^\?/, "");
    this.workDir = options.workDir;
  }

  async init(): Promise<this> {
    await privateDir(this.workDir);
    return this;
  }

  private signed(location: string): string {
    if (!location.startsWith(`${this.containerUrl}/`)) throw new Error(`backup ${location} is not in the container ${this.containerUrl}`);
    return `${location}?${this.sasToken}`;
  }

  async put(name: string, file: string): Promise<string> {
    if (!NAME.test(name)) throw new Error(`backup name ${JSON.stringify(name)} is not a plain file name`);
    const location = `${this.containerUrl}/${name}`;
    const { size } = await stat(file);
    const response = await fetch(this.signed(location), {
      method: "PUT",
      headers: { "x-ms-blob-type": "BlockBlob", "x-ms-version": "2021-08-06", "content-length": String(size), "content-type": "application/octet-stream" },
      body: Readable.toWeb(createReadStream(file)) as ReadableStream,
      duplex: "half",
    } as RequestInit);
    if (!response.ok) throw new Error(`Azure Blob Storage refused the backup (${response.status} ${response.statusText})`);
    await rm(file, { force: true });
    return location;
  }

  async get(location: string, file: string): Promise<void> {
    const response = await fetch(this.signed(location), { headers: { "x-ms-version": "2021-08-06" } });
    if (!response.ok || !response.body) throw new Error(`Azure Blob Storage did not return the backup (${response.status} ${response.statusText})`);
    await pipeline(Readable.fromWeb(response.body as never), createWriteStream(file, { mode: 0o600 }));
  }

  async remove(location: string): Promise<void> {
    const response = await fetch(this.signed(location), { method: "DELETE", headers: { "x-ms-version": "2021-08-06" } });
    if (!response.ok && response.status !== 404) throw new Error(`Azure Blob Storage did not delete the backup (${response.status} ${response.statusText})`);
  }
}
