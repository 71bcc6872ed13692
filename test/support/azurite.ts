/**
 * Azurite, Microsoft's Azure Storage emulator (the `azurite` devDependency),
 * as a real Blob Storage endpoint for the Azure backup store's tests: started
 * by the test on a free port in a temp folder, stopped with it. Requests are
 * signed with the emulator's well-known dev account key, through
 * `@azure/storage-blob`'s SAS functions, so a SAS the store sends is checked
 * by the emulator as Azure checks one. With `https: true` it serves a
 * self-signed certificate for 127.0.0.1 made here with openssl; `caFile` is
 * that certificate, for NODE_EXTRA_CA_CERTS of a process that must trust it.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import {
  AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, ContainerSASPermissions,
  generateAccountSASQueryParameters, generateBlobSASQueryParameters, StorageSharedKeyCredential,
} from "@azure/storage-blob";

/** The emulator's fixed development account (documented by Microsoft, not a secret). */
export const DEV_ACCOUNT = "devstoreaccount1";
const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const credential = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY);

export interface Azurite {
  /** The account's endpoint, path-style as the emulator serves it: `http(s)://127.0.0.1:<port>/devstoreaccount1`. */
  readonly accountUrl: string;
  /** The self-signed certificate (PEM file) with `https: true`, else null. */
  readonly caFile: string | null;
  /** Creates a container and answers its URL. */
  createContainer(name: string): Promise<string>;
  /** A container SAS token (no leading `?`), read, create, write and delete by default, valid for an hour. */
  containerSas(name: string, permissions?: string): string;
  /** GET of a URL as the emulator answers it (status and body), trusting its certificate. */
  request(method: string, url: string): Promise<{ status: number; body: Buffer }>;
  /** Everything the emulator printed. */
  output(): string;
  stop(): Promise<void>;
}

const MAIN = createRequire(import.meta.url).resolve("azurite/dist/src/blob/main.js");

export async function startAzurite(options: { https?: boolean } = {}): Promise<Azurite> {
  const dir = await mkdtemp(path.join(tmpdir(), "matih-azurite-"));
  const args = [MAIN, "--blobHost", "127.0.0.1", "--blobPort", "0", "--location", path.join(dir, "data"), "--silent", "--disableTelemetry"];
  let ca: string | null = null;
  let caFile: string | null = null;
  if (options.https) {
    caFile = path.join(dir, "cert.pem");
    const keyFile = path.join(dir, "key.pem");
    await promisify(execFile)("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
      "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", keyFile, "-out", caFile,
    ]);
    ca = await readFile(caFile, "utf8");
    args.push("--cert", caFile, "--key", keyFile);
  }
  // This Node, not whatever `node` is on PATH; the emulator's own stdout says where it listens.
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += String(d)));
  child.stderr!.on("data", (d) => (out += String(d)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 60_000;
  let base = "";
  while (!base) {
    base = /successfully listens on (https?:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] ?? "";
    if (base) break;
    if (gone || Date.now() > deadline) {
      child.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
      throw new Error(`azurite did not start:\n${out.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const accountUrl = `${base}/${DEV_ACCOUNT}`;

  const request = (method: string, url: string) => new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
    const req = (url.startsWith("https:") ? https : http).request(url, { method, ...(ca ? { ca } : {}), headers: { "x-ms-version": "2021-08-06", "content-length": "0" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });

  return {
    accountUrl,
    caFile,
    async createContainer(name) {
      // An account SAS that may create containers: a container SAS cannot make its own container.
      const sas = generateAccountSASQueryParameters({
        permissions: AccountSASPermissions.parse("c"), services: AccountSASServices.parse("b").toString(),
        resourceTypes: AccountSASResourceTypes.parse("c").toString(), expiresOn: new Date(Date.now() + 3600_000),
      }, credential).toString();
      const res = await request("PUT", `${accountUrl}/${name}?restype=container&${sas}`);
      if (res.status !== 201) throw new Error(`azurite did not create container ${name}: ${res.status} ${res.body.toString()}`);
      return `${accountUrl}/${name}`;
    },
    containerSas(name, permissions = "rcwd") {
      return generateBlobSASQueryParameters({
        containerName: name, permissions: ContainerSASPermissions.parse(permissions), expiresOn: new Date(Date.now() + 3600_000),
      }, credential).toString();
    },
    request,
    output: () => out,
    async stop() {
      if (!gone) child.kill("SIGTERM");
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A container name of the test's own (3-63 lowercase letters, digits, dashes). */
export const containerName = (prefix: string) => `${prefix}-${randomBytes(4).toString("hex")}`;
