/**
 * npm run bench: one table of the service's speed goals (issue 11), each
 * measured against a reference taken in the same run where there is one, so
 * the ratio holds on a noisy machine. Prints figures; asserts nothing (timing
 * is never a test). Needs the local PostgreSQL; takes a few minutes.
 *
 *   npm run bench
 *   BENCH_ONLY=render,websocket npm run bench        (some sections only)
 *   node --cpu-prof --cpu-prof-dir=.bench-profile bench/profile-render.ts   (the render profile)
 *
 * Sections: render, overhead (and scale), status, websocket, fleet.
 */
import { renderGoal } from "./goals/render.ts";
import { coldOverhead, overheadAndScale } from "./goals/scale.ts";
import { statusReadGoal } from "./goals/status-read.ts";
import { websocketGoal } from "./goals/websocket.ts";
import { fleetPreviewGoal } from "./goals/fleet-preview.ts";
import { printTable, type Row } from "./goals/table.ts";

const only = new Set((process.env.BENCH_ONLY ?? "").split(",").map((s) => s.trim()).filter(Boolean));
const wanted = (section: string) => only.size === 0 || only.has(section);
const started = Date.now();
const rows: Row[] = [];
let scaleRows: Row[] = [];

async function section(name: string, measure: () => Promise<void>): Promise<void> {
  if (!wanted(name)) return;
  const t0 = Date.now();
  process.stderr.write(`bench: ${name}...`);
  await measure();
  process.stderr.write(` ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
}

await section("render", async () => {
  rows.push(...(await renderGoal()));
});
await section("overhead", async () => {
  rows.push(...(await coldOverhead()));
  const measured = await overheadAndScale();
  rows.push(...measured.rows);
  scaleRows = measured.scaleRows;
});
await section("status", async () => {
  rows.push(...(await statusReadGoal()));
});
await section("websocket", async () => {
  rows.push(...(await websocketGoal()));
});
await section("fleet", async () => {
  rows.push(...(await fleetPreviewGoal()));
});
rows.push(...scaleRows);

console.log(`\nmatih goals bench, ${new Date().toISOString()}, ${((Date.now() - started) / 1000).toFixed(0)} s, render engine, local PostgreSQL\n`);
printTable(rows);
console.log("\nprofile: node --cpu-prof --cpu-prof-dir=.bench-profile bench/profile-render.ts  (then open the .cpuprofile in Chrome DevTools)");
