/**
 * WebSocket delivery: 500 subscribers of one tenant's stream and 100 of the
 * fleet stream, in a process of their own (ws-subscribers.ts), while the
 * tenant provisions (paced so that its phase transitions come after every
 * socket is listening). p99 of commit -> receipt over every transition and
 * every socket.
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { auth, BENCH_TOKEN, createTenant, startBenchService, waitForWarmWorkers, waitUntilSettled } from "../support.ts";
import { atMost, ms, percentile, type Row } from "./table.ts";

const SUBSCRIBERS = fileURLToPath(new URL("../ws-subscribers.ts", import.meta.url));
const TENANT_SUBSCRIBERS = 500;
const FLEET_SUBSCRIBERS = 100;

export async function websocketGoal(): Promise<Row[]> {
  const service = await startBenchService({ MATIH_RENDER_PACE: "0.02", MATIH_WS_MAX_PER_PRINCIPAL: String(TENANT_SUBSCRIBERS + FLEET_SUBSCRIBERS) });
  try {
    await waitForWarmWorkers(service.app, 2);
    const url = await service.listen();
    const id = await createTenant(service.app, "websocket", "enterprise");
    // Subscribe while the run is in progress (a tenant stream on a finished run closes at once).
    for (;;) {
      const status = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${id}/provisioning/status`, headers: auth() })).json();
      if (status.run?.status === "RUNNING") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const clients = fork(SUBSCRIBERS, [url.replace(/^http/, "ws"), BENCH_TOKEN, id, String(TENANT_SUBSCRIBERS), String(FLEET_SUBSCRIBERS)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const [ready] = (await once(clients, "message")) as [{ type: string }];
    if (ready.type !== "ready") throw new Error(`the subscribers said ${JSON.stringify(ready)}`);
    await waitUntilSettled(service.app, id, 120_000);
    // The last transitions' messages are on their way: give them a moment.
    await new Promise((r) => setTimeout(r, 500));
    clients.send({ type: "report" });
    const [report] = (await once(clients, "message")) as [{ tenant: number[]; fleet: number[] }];
    const all = [...report.tenant, ...report.fleet];
    if (report.tenant.length === 0 || report.fleet.length === 0) throw new Error("no transition was received after the subscribers were ready");
    const p99 = percentile(all, 99);
    return [
      atMost(
        `WebSocket commit -> receipt p99, ${TENANT_SUBSCRIBERS} tenant + ${FLEET_SUBSCRIBERS} fleet subscribers (${all.length} receipts)`,
        "<= 100 ms",
        `${ms(p99)} (tenant ${ms(percentile(report.tenant, 99))}, fleet ${ms(percentile(report.fleet, 99))})`,
        p99 / 100,
        1,
      ),
    ];
  } finally {
    await service.close();
  }
}
