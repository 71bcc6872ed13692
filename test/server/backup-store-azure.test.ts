/**
 * The Azure backup store against Azurite, Microsoft's Blob Storage emulator,
 * started here (an npm devDependency, so this never skips): real Put, Get and
 * Delete Blob requests, a container SAS the emulator checks with the dev
 * account's key. Plain http here: the store itself takes any container URL
 * (the https rule is the configuration's, tested with the service in
 * backup-store-azure-service.test.ts).
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AzureBlobBackupStore } from "../../server/domain/backup-store.ts";
import { containerName, startAzurite, type Azurite } from "../support/azurite.ts";

const sha256 = async (file: string) => createHash("sha256").update(await readFile(file)).digest("hex");

describe("the Azure Blob backup store against Azurite", () => {
  let azurite: Azurite;
  let containerUrl: string;
  let sasToken: string;
  let store: AzureBlobBackupStore;
  let workDir: string;

  beforeAll(async () => {
    azurite = await startAzurite();
    const name = containerName("h22-backups");
    containerUrl = await azurite.createContainer(name);
    sasToken = azurite.containerSas(name);
    workDir = path.join(await mkdtemp(path.join(tmpdir(), "matih-azure-store-")), "work");
    store = await new AzureBlobBackupStore({ containerUrl, sasToken: `?${sasToken}`, workDir }).init();
  }, 120_000);
  afterAll(async () => {
    await azurite?.stop();
    if (workDir) await rm(path.dirname(workDir), { recursive: true, force: true });
  });

  /** A dump-sized file of random bytes in the work folder, as the backup service leaves one. */
  const dump = async (name: string, bytes = 3 * 1024 * 1024 + 17) => {
    const file = path.join(workDir, name);
    await writeFile(file, randomBytes(bytes));
    return { file, sha: await sha256(file) };
  };

  it("stores a dump as a blob at the container URL + its name, gives it back byte for byte, and deletes it", async () => {
    const { file, sha } = await dump("acme-20261207.dump");
    const location = await store.put("acme-20261207.dump", file);
    expect(location).toBe(`${containerUrl}/acme-20261207.dump`);
    expect(location).not.toContain("sig=");
    // The dump has left the work folder: the blob is the only copy.
    await expect(stat(file)).rejects.toMatchObject({ code: "ENOENT" });
    // The emulator holds exactly those bytes (read with a SAS of its own, not through the store).
    const stored = await azurite.request("GET", `${location}?${azurite.containerSas(new URL(containerUrl).pathname.split("/")[2]!, "r")}`);
    expect(stored.status).toBe(200);
    expect(createHash("sha256").update(stored.body).digest("hex")).toBe(sha);

    const back = path.join(workDir, "restore.dump");
    await store.get(location, back);
    expect(await sha256(back)).toBe(sha);
    expect((await stat(back)).mode & 0o777).toBe(0o600);

    await store.remove(location);
    await expect(store.get(location, path.join(workDir, "gone.dump"))).rejects.toThrow(/^Azure Blob Storage refused to return the backup \(404 .*BlobNotFound\)$/);
    // Nothing half-written is left behind by the failed download.
    await expect(stat(path.join(workDir, "gone.dump"))).rejects.toMatchObject({ code: "ENOENT" });
    // A backup already gone is no error (retention may race a manual delete).
    await expect(store.remove(location)).resolves.toBeUndefined();
  });

  it("sends a SAS token the emulator refuses as Azure would, and never puts the token in the error", async () => {
    const sig = new URLSearchParams(sasToken).get("sig")!;
    // The signature altered in one character: still well-formed, no longer valid.
    const forged = sasToken.replace(`sig=${encodeURIComponent(sig)}`, `sig=${encodeURIComponent((sig[0] === "A" ? "B" : "A") + sig.slice(1))}`);
    expect(forged).not.toBe(sasToken);
    const bad = await new AzureBlobBackupStore({ containerUrl, sasToken: forged, workDir }).init();
    const { file } = await dump("forged.dump", 1024);
    const errors: Error[] = [];
    await bad.put("forged.dump", file).catch((e: Error) => errors.push(e));
    await bad.get(`${containerUrl}/forged.dump`, path.join(workDir, "x.dump")).catch((e: Error) => errors.push(e));
    await bad.remove(`${containerUrl}/forged.dump`).catch((e: Error) => errors.push(e));
    // 403 with the error code (Azurite says AuthorizationFailure, Azure AuthenticationFailed), never the body.
    expect(errors.map((e) => e.message)).toEqual(["store", "return", "delete"].map((what) => expect.stringMatching(new RegExp(`^Azure Blob Storage refused to ${what} the backup \\(403 .*, Auth\\w+\\)$`))));
    for (const err of errors) {
      const everything = `${err.message} ${err.stack} ${JSON.stringify(err)} ${String((err as { cause?: unknown }).cause)}`;
      for (const secret of [forged, sig, encodeURIComponent(sig)]) expect(everything).not.toContain(secret);
    }
    // The refused upload kept the dump: nothing is lost when the store says no.
    expect((await stat(file)).size).toBe(1024);
  });

  it("refuses a location outside its container before sending anything, even one that only starts like it", async () => {
    const other = `${new URL(containerUrl).origin}/devstoreaccount1/other`;
    for (const location of [`${other}/a.dump`, `${containerUrl}-x/a.dump`, `${containerUrl}/../other/a.dump`, `${containerUrl}/sub/a.dump`, `${containerUrl}/a.dump?comp=list`, "/srv/matih/backups/a.dump"]) {
      await expect(store.get(location, path.join(workDir, "x.dump")), location).rejects.toThrow(`backup ${location} is not in the container ${containerUrl}`);
      await expect(store.remove(location), location).rejects.toThrow("is not in the container");
    }
    await expect(store.put("../a.dump", path.join(workDir, "nothing"))).rejects.toThrow('backup name "../a.dump" is not a plain file name');
  });

  it("says the store cannot be reached without the signed URL in the message", async () => {
    const port = new URL(containerUrl).port;
    // A port nothing listens on (the emulator's, plus one, then checked refused).
    const gone = containerUrl.replace(`:${port}/`, `:${Number(port) + 1}/`);
    const unreachable = await new AzureBlobBackupStore({ containerUrl: gone, sasToken, workDir }).init();
    const err = await unreachable.get(`${gone}/a.dump`, path.join(workDir, "x.dump")).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("Azure Blob Storage could not be reached to return the backup (ECONNREFUSED)");
    expect(`${(err as Error).message} ${(err as Error).stack}`).not.toContain(new URLSearchParams(sasToken).get("sig")!);
  });
});
