/**
 * The WebSocket goal's clients, forked by goals.bench.ts so that they do not
 * share the service's event loop: `tenantSubscribers` sockets on one tenant's
 * stream and `fleetSubscribers` on the fleet stream. Once all are subscribed
 * it tells the parent "ready"; from then on it notes when each phase
 * transition arrives on each socket. Asked for a "report", it answers with
 * the latencies (receipt minus the transition's commit) and exits.
 *
 * The commit time is the phase row's own timestamp (started_at for RUNNING,
 * completed_at otherwise): Postgres's now(), the start of the transaction that
 * wrote the transition, a millisecond or two before its commit, so the
 * latency is if anything overstated. Same machine, same clock.
 *
 *   argv: <ws base url> <token> <tenant id> <tenant subscribers> <fleet subscribers>
 */
import WebSocket from "ws";

const [base, token, tenantId, tenantCount, fleetCount] = process.argv.slice(2) as [string, string, string, string, string];
const headers = { authorization: `Bearer ${token}` };
/** Arrival time and raw frame; parsed after the run, so that parsing does not delay the next socket's receipt. */
const arrivals: { stream: "tenant" | "fleet"; at: number; data: Buffer }[] = [];
let recording = false;
const sockets: WebSocket[] = [];

function open(url: string, stream: "tenant" | "fleet", subscribed: (message: { type: string }) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    sockets.push(socket);
    let ready = false;
    socket.on("message", (data: Buffer) => {
      if (recording) {
        arrivals.push({ stream, at: Date.now(), data });
        return;
      }
      if (!ready && subscribed(JSON.parse(data.toString()))) {
        ready = true;
        resolve();
      }
    });
    socket.on("error", reject);
    socket.on("close", (code) => {
      if (!ready) reject(new Error(`a ${stream} socket closed before it was subscribed (${code})`));
    });
  });
}

// In batches, as many clients connecting at once would.
const BATCH = 50;
const wanted = [
  ...Array.from({ length: Number(tenantCount) }, () => () => open(`${base}/ws/provisioning/${tenantId}`, "tenant", (m) => m.type === "snapshot")),
  ...Array.from({ length: Number(fleetCount) }, () => () => open(`${base}/ws/provisioning`, "fleet", (m) => m.type === "subscribed")),
];
for (let i = 0; i < wanted.length; i += BATCH) await Promise.all(wanted.slice(i, i + BATCH).map((start) => start()));
const readyAt = Date.now();
recording = true;
process.send!({ type: "ready", readyAt });

process.on("message", (message: { type: string }) => {
  if (message.type !== "report") return;
  const latencies = { tenant: [] as number[], fleet: [] as number[] };
  for (const { stream, at, data } of arrivals) {
    const parsed = JSON.parse(data.toString()) as { type: string; tenantId?: string; phase?: { status: string; startedAt: string | null; completedAt: string | null } };
    if (parsed.type !== "phase" || parsed.tenantId !== tenantId || !parsed.phase) continue;
    const committed = Date.parse((parsed.phase.status === "RUNNING" ? parsed.phase.startedAt : parsed.phase.completedAt) ?? "");
    // Only transitions written after every socket was listening.
    if (Number.isNaN(committed) || committed < readyAt) continue;
    latencies[stream].push(at - committed);
  }
  for (const socket of sockets) socket.terminate();
  process.send!({ type: "report", ...latencies }, () => process.exit(0));
});
