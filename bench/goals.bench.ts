/**
 * npm run bench: one table of the service's speed goals (issue 11), each
 * measured against a reference taken in the same run where there is one, so
 * the ratio holds on a noisy machine. Prints figures; asserts nothing (timing
 * is never a test). Needs the local PostgreSQL; takes a few minutes.
 *
 *   npm run bench
 *   BENCH_ONLY=render,websocket npm run bench        (some sections only)
 *   npm run bench -- fleet    (or npm run bench:fleet: issue 23's fleet-scale figures alone)
 *   node --cpu-prof --cpu-prof-dir=.bench-profile bench/profile-render.ts   (the render profile)
 *
 * Sections: render, overhead (and scale), status, websocket, fleet; the fleet
 * runs first (it measures this process's memory), the table keeps this order.
 * The fleet section is issue 23's (bench/goals/fleet-scale.ts: a 1,000-tenant
 * impact preview through the API, its rollout, the status read under it);
 * fleet-engine (the engine's fleet preview called directly, the figure
 * measured before issue 23) runs only when named.
 */
import { renderGoal } from "./goals/render.ts";
import { coldOverhead, overheadAndScale } from "./goals/scale.ts";
import { statusReadGoal } from "./goals/status-read.ts";
import { websocketGoal } from "./goals/websocket.ts";
import { fleetPreviewGoal } from "./goals/fleet-preview.ts";
import { fleetScaleGoal } from "./goals/fleet-scale.ts";
import { printTable, type Row } from "./goals/table.ts";

// Sections named in BENCH_ONLY or as arguments (npm run bench -- fleet status).
const only = new Set([...(process.env.BENCH_ONLY ?? "").split(","), ...process.argv.slice(2)].map((s) => s.trim()).filter(Boolean));
const wanted = (section: string) => only.size === 0 || only.has(section);
const named = (section: string) => only.has(section);
const started = Date.now();
const rows = new Map<string, Row[]>();

async function section(name: string, measure: () => Promise<Row[]>): Promise<void> {
  if (!wanted(name)) return;
  const t0 = Date.now();
  process.stderr.write(`bench: ${name}...`);
  rows.set(name, await measure());
  process.stderr.write(` ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
}

// The fleet preview first: it measures this process's memory, which the other sections' leftovers would inflate.
await section("fleet", fleetScaleGoal);
if (named("fleet-engine")) await section("fleet-engine", fleetPreviewGoal);
await section("render", renderGoal);
let scaleRows: Row[] = [];
await section("overhead", async () => {
  const cold = await coldOverhead();
  const measured = await overheadAndScale();
  scaleRows = measured.scaleRows;
  return [...cold, ...measured.rows];
});
await section("status", statusReadGoal);
await section("websocket", websocketGoal);

console.log(`\nmatih goals bench, ${new Date().toISOString()}, ${((Date.now() - started) / 1000).toFixed(0)} s, render engine, local PostgreSQL\n`);
printTable([...["render", "overhead", "status", "websocket", "fleet", "fleet-engine"].flatMap((name) => rows.get(name) ?? []), ...scaleRows]);
console.log("\nprofile: node --cpu-prof --cpu-prof-dir=.bench-profile bench/profile-render.ts  (then open the .cpuprofile in Chrome DevTools)");
