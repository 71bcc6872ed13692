/** Shared by the chart's tests: where the chart is, its production values, the service's drain. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const CHART = `${REPO}deploy/helm/matih-provisioning`;
export const PRODUCTION_VALUES = parse(readFileSync(`${CHART}/values-production.yaml`, "utf8")) as Record<string, any>;

/** The service's drain, as server/server.ts gives it to close-with-grace: read from the source, so a longer drain fails this test. */
export function drainSeconds(): number {
  const source = readFileSync(`${REPO}server/server.ts`, "utf8");
  const match = /closeWithGrace\(\{\s*delay:\s*([\d_]+)/.exec(source);
  if (!match) throw new Error("server/server.ts no longer calls closeWithGrace({ delay: ... }): find the drain and update this test");
  return Number(match[1]!.replaceAll("_", "")) / 1000;
}

