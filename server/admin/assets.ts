/**
 * The admin dashboard's files: its TypeScript bundled with esbuild into one
 * ES module (lit-html included), its stylesheet minified, and its HTML page,
 * each kept in memory with an ETag and a gzip copy. Built once, on first use,
 * so a service that nobody opens the dashboard of pays nothing for it.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

export interface Asset {
  readonly body: Buffer;
  readonly gzip: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

export type AssetName = "index.html" | "app.js" | "app.css";

/** Where the dashboard's sources live: the repository's admin-ui folder. */
export const ADMIN_UI_DIR = fileURLToPath(new URL("../../admin-ui/", import.meta.url));

function asset(body: Buffer, contentType: string): Asset {
  return { body, gzip: gzipSync(body, { level: 9 }), contentType, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"` };
}

async function buildAssets(dir: string): Promise<Map<AssetName, Asset>> {
  const result = await build({
    entryPoints: { app: `${dir}main.ts`, style: `${dir}app.css` },
    bundle: true,
    format: "esm",
    target: ["chrome120", "firefox120", "safari17"],
    minify: true,
    legalComments: "none",
    write: false,
    outdir: "/out",
    logLevel: "silent",
  });
  const output = (name: string) => {
    const file = result.outputFiles.find((f) => f.path.endsWith(`/${name}`));
    if (!file) throw new Error(`the dashboard build produced no ${name}`);
    return Buffer.from(file.contents);
  };
  return new Map<AssetName, Asset>([
    ["index.html", asset(await readFile(`${dir}index.html`), "text/html; charset=utf-8")],
    ["app.js", asset(output("app.js"), "text/javascript; charset=utf-8")],
    ["app.css", asset(output("style.css"), "text/css; charset=utf-8")],
  ]);
}

/** Builds the assets the first time they are asked for; a failed build is tried again on the next request. */
export function dashboardAssets(dir = ADMIN_UI_DIR): () => Promise<Map<AssetName, Asset>> {
  let pending: Promise<Map<AssetName, Asset>> | null = null;
  return () => {
    pending ??= buildAssets(dir).catch((error: unknown) => {
      pending = null;
      throw error;
    });
    return pending;
  };
}
