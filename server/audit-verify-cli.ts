/**
 * npm run audit:verify [-- --head <chainSeq>:<hash>]: checks the audit log's
 * hash chain on DATABASE_URL, as GET /api/v1/audit/verify does, and prints
 * the report as JSON: the rows that checked out, the head to export, and the
 * first broken row with the reason. `--head` is a head exported earlier: the
 * chain must still hold it. Exit 0 when the chain checks out, 1 when it does
 * not, 2 when it could not be checked. (The embedded database belongs to the
 * running service: ask its route instead.)
 */
import { parseArgs } from "node:util";
import { verifyAuditChain } from "./db/audit.ts";
import { createPool } from "./db/pool.ts";
import { describeDatabaseUrl } from "./startup.ts";

function fail(message: string): never {
  process.stderr.write(`matih audit:verify: ${message}\n`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({ options: { head: { type: "string" } }, strict: true });
  } catch (error) {
    return fail(`${(error as Error).message}; usage: npm run audit:verify [-- --head <chainSeq>:<hash>]`);
  }
})();
const databaseUrl = process.env.DATABASE_URL?.trim();
if (!databaseUrl) fail("set DATABASE_URL");
let anchor: { chainSeq: number; hash: string } | undefined;
if (values.head !== undefined) {
  const match = /^(\d+):([0-9a-fA-F]{64})$/.exec(values.head);
  if (!match) fail("--head must be <chainSeq>:<64 hex digits>, as the report's head gives them");
  anchor = { chainSeq: Number(match[1]), hash: match[2]! };
}

const pool = createPool(databaseUrl, 1);
try {
  const report = await verifyAuditChain(pool, anchor ? { anchor } : {});
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.exitCode = report.ok ? 0 : 1;
} catch (error) {
  const e = error as { code?: string; message?: string };
  // Never the URL itself: it holds a password.
  fail(`could not check the audit log at ${describeDatabaseUrl(databaseUrl)}: ${e.code ?? ""} ${(e.message ?? String(error)).replace(/postgres(ql)?:\/\/\S+/g, "[url]")}`.replace(/\s+/g, " "));
} finally {
  await pool.end();
}
