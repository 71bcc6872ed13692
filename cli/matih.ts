#!/usr/bin/env node
/**
 * `matih`: the tenant-provisioning service's command line (docs/cli.md).
 * Exit codes: 0 done (a watched run succeeded), 1 refused or failed (a
 * watched run failed), 2 wrong usage, 3 drift found by `drift run TENANT`,
 * 130 interrupted.
 */
import { CommanderError } from "commander";
import { CliError } from "./client.ts";
import { colorsFor } from "./output.ts";
import { buildProgram } from "./program.ts";

export async function main(argv: string[]): Promise<number> {
  const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd() };
  const program = buildProgram(io);
  const c = colorsFor(process.stderr, process.env, !argv.includes("--no-color"));
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with 0; commander has already printed the usage problem.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CliError) {
      process.stderr.write(`${c.red("error:")} ${error.message}${error.code && !error.message.includes(error.code) ? c.dim(` (${error.code})`) : ""}\n`);
      for (const line of detailLines(error.details)) process.stderr.write(`  ${line}\n`);
      return error.exitCode;
    }
    process.stderr.write(`${c.red("error:")} ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

/** The service's `details` as lines: a field list (validation) or key: value pairs. */
function detailLines(details: unknown): string[] {
  if (Array.isArray(details)) return details.map((d) => (d && typeof d === "object" && "field" in d && "message" in d ? `${String(d.field)}: ${String(d.message)}` : JSON.stringify(d)));
  if (details && typeof details === "object") return Object.entries(details).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
  return [];
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
