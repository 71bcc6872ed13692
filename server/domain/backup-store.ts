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
 * kept in a location or logged, and no error carries it (nor the signed URL).
 * Tested against Azurite, Microsoft's emulator (test/server/backup-store-azure*.test.ts):
 * the requests, a SAS the emulator checks, streaming both ways, refusals.
 * Not tested: a real storage account (its network rules, Entra ID, an expired
 * token's rotation). One Put Blob holds up to 5000 MiB; a larger dump is
 * refused before sending (block uploads are not done).
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

  /**
   * Only a plain blob name right in the container: a location from the database
   * such as `<container>/../other/x` would pass a prefix check, and fetch would
   * resolve it to another container.
   */
  private signed(location: string): string {
    const prefix = `${this.containerUrl}/`;
    if (!location.startsWith(prefix) || !NAME.test(location.slice(prefix.length))) throw new Error(`backup ${location} is not in the container ${this.containerUrl}`);
    return `${location}?${this.sasToken}`;
  }

  /**
   * One request, with the version every call is written for. A failure to
   * connect is told without its URL (it holds the token); Azure's refusal by
   * its status and error code (x-ms-error-code), not its body, which may quote
   * the string the signature was computed over.
   */
  private async send(what: string, location: string, init: RequestInit & { duplex?: "half" }, expected: (status: number) => boolean): Promise<Response> {
    const url = this.signed(location);
    let response: Response;
    try {
      response = await fetch(url, { ...init, headers: { "x-ms-version": AZURE_API_VERSION, ...(init.headers as Record<string, string>) } });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`Azure Blob Storage could not be reached to ${what} (${cause?.code ?? cause?.message ?? (err as Error).message})`.replaceAll(this.sasToken, "[sas]"));
    }
    if (!expected(response.status)) {
      await response.body?.cancel().catch(() => undefined);
      const code = response.headers.get("x-ms-error-code");
      throw new Error(`Azure Blob Storage refused to ${what} (${response.status} ${response.statusText}${code ? `, ${code}` : ""})`);
    }
    return response;
  }

  async put(name: string, file: string): Promise<string> {
    if (!NAME.test(name)) throw new Error(`backup name ${JSON.stringify(name)} is not a plain file name`);
    const location = `${this.containerUrl}/${name}`;
    const { size } = await stat(file);
    if (size > MAX_PUT_BLOB_BYTES) throw new Error(`backup ${name} is ${size} bytes, more than one Put Blob takes (5000 MiB); block uploads are not done`);
    // Streamed from the file with its length: Blob Storage takes no chunked upload (Azurite answers 400).
    const response = await this.send("store the backup", location, {
      method: "PUT",
      headers: { "x-ms-blob-type": "BlockBlob", "content-length": String(size), "content-type": "application/octet-stream" },
      body: Readable.toWeb(createReadStream(file)) as ReadableStream,
      duplex: "half",
    }, (status) => status === 201);
    await response.body?.cancel().catch(() => undefined);
    await rm(file, { force: true });
    return location;
  }

  async get(location: string, file: string): Promise<void> {
    const response = await this.send("return the backup", location, { method: "GET" }, (status) => status === 200);
    if (!response.body) throw new Error(`Azure Blob Storage returned no body for the backup (${response.status})`);
    try {
      await pipeline(Readable.fromWeb(response.body as never), createWriteStream(file, { mode: 0o600 }));
    } catch (err) {
      // No half a dump left for a restore to read.
      await rm(file, { force: true });
      throw new Error(`the backup's download from Azure Blob Storage broke off (${(err as Error).message})`.replaceAll(this.sasToken, "[sas]"));
    }
  }

  async remove(location: string): Promise<void> {
    const response = await this.send("delete the backup", location, { method: "DELETE" }, (status) => status === 202 || status === 404);
    await response.body?.cancel().catch(() => undefined);
  }
}

/** The Blob Storage REST version the requests are written for (Azurite and Azure both take it). */
const AZURE_API_VERSION = "2021-08-06";
/** One Put Blob's limit (versions from 2019-12-12 on). */
const MAX_PUT_BLOB_BYTES = 5000 * 1024 * 1024;
