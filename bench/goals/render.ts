/**
 * Render against the bare mock runtime: measured by render-ratio.ts in a
 * process with the worker processes' Node flags, so the render is timed as a
 * render worker runs it.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { WORKER_EXEC_ARGV } from "../../automation/isolation/forked-runner.ts";
import { atMost, info, ms, reference, type Row } from "./table.ts";

const RENDER_RATIO = fileURLToPath(new URL("../render-ratio.ts", import.meta.url));

export async function renderGoal(): Promise<Row[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [...WORKER_EXEC_ARGV, RENDER_RATIO], { maxBuffer: 2 ** 20 });
  const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as { resources: number; renderMs: number; bareMs: number; bareLeanMs: number };
  return [
    reference(`bare mock runtime, ${r.resources} resources in 10 chained components (SDK as shipped)`, ms(r.bareMs)),
    atMost(`render, enterprise tenant (${r.resources} resources), as a render worker runs it`, "<= 1.5 x bare", ms(r.renderMs), r.renderMs / r.bareMs, 1.5),
    info("  the same bare runtime under the render's lean runtime (render / this)", ms(r.bareLeanMs), r.renderMs / r.bareLeanMs),
  ];
}
