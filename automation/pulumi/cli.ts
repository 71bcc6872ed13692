/**
 * Finding the pulumi CLI and checking it is new enough, without loading the
 * Automation API into the service process.
 */
import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import path from "node:path";
import { CliMissingError, CliTooOldError } from "../core/errors.ts";

/**
 * Oldest CLI the engine accepts: refresh and destroy of inline programs (the
 * engine's drift check and teardown) need `--client`, added in 3.181.0.
 */
export const MINIMUM_PULUMI_CLI_VERSION = "3.181.0";

export type CliCheck =
  | { readonly ok: true; readonly path: string; readonly version: string }
  | { readonly ok: false; readonly error: CliMissingError | CliTooOldError };

export function parseVersion(text: string): [number, number, number] | null {
  const match = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : null;
}

export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a) ?? [0, 0, 0];
  const pb = parseVersion(b) ?? [0, 0, 0];
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return 0;
}

async function findOnPath(name: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: { ...env, PULUMI_SKIP_UPDATE_CHECK: "true" }, timeout: 30_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });
}

export async function detectPulumiCli(env: NodeJS.ProcessEnv = process.env, minimum = MINIMUM_PULUMI_CLI_VERSION): Promise<CliCheck> {
  const found = await findOnPath("pulumi", env);
  if (!found) return { ok: false, error: new CliMissingError(minimum) };
  let output: string;
  try {
    output = await run(found, ["version"], env);
  } catch (error) {
    return { ok: false, error: new CliMissingError(minimum, `${found} did not run: ${error instanceof Error ? error.message : String(error)}`) };
  }
  const version = output.trim();
  if (!parseVersion(version)) return { ok: false, error: new CliMissingError(minimum, `${found} printed no version: ${JSON.stringify(version.slice(0, 80))}`) };
  if (compareVersions(version, minimum) < 0) return { ok: false, error: new CliTooOldError(minimum, version, found) };
  return { ok: true, path: found, version };
}
