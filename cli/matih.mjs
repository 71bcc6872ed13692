#!/usr/bin/env node
// The `bin` of the package: runs cli/matih.ts on a Node that strips types
// (22.18+). Run on an older Node (npm's own, or one on PATH), it starts the
// project's pinned Node (node_modules/.bin/node, as npm scripts do) instead.
import { spawn } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(realpathSync(fileURLToPath(import.meta.url)));
const entry = path.join(here, "matih.ts");

if (process.features.typescript) {
  const { main } = await import(pathToFileURL(entry).href);
  process.exitCode = await main(process.argv.slice(2));
} else {
  const pinned = path.join(here, "..", "node_modules", ".bin", "node");
  if (!existsSync(pinned)) {
    process.stderr.write(`matih needs Node 22.18 or later (this is ${process.version}), or the project's pinned Node: run npm ci in ${path.dirname(here)}\n`);
    process.exit(1);
  }
  const child = spawn(pinned, [entry, ...process.argv.slice(2)], { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
