/**
 * Shared by the soaks: many tenants requested at once against a running
 * service process, status reads throughout, and the figures a closing note
 * quotes (tenants, time to all ACTIVE, 5xx answers, retries).
 */
import { TIERS } from "../../model/tiers.ts";

export const SOAK_TENANTS = 12;
/** Fraction of the seed's typical phase durations the render engine waits: about 2.7 s of waiting per tenant. */
export const SOAK_PACE = "0.004";

export interface SoakFigures {
  tenants: number;
  allActiveMs: number;
  statusReads: number;
  status5xx: number;
  retries: number;
}

/** Every tier, round-robin, under slugs that say which soak made them. */
export function soakRequests(prefix: string) {
  return Array.from({ length: SOAK_TENANTS }, (_, i) => {
    const tier = TIERS[i % TIERS.length]!;
    const slug = `${prefix}-${tier.slice(0, 4)}-${i + 1}`;
    return { slug, displayName: `${prefix} tenant ${i + 1}`, tier, region: "eastus", adminEmail: `admin@${slug}.example` };
  });
}

async function call(url: string, token: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${token}`, ...(init.body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the failure message
  }
  return { status: res.status, body };
}

export const api = { call };

/**
 * Requests every tenant at once, then reads every status every 250 ms until
 * all are settled (or `timeoutMs`), counting 5xx answers. `onTick` runs after
 * each round of reads (the crash soak kills a process from there).
 */
export async function requestAllAndWatch(baseUrl: () => string, token: string, requests: ReturnType<typeof soakRequests>, options: { timeoutMs: number; onTick?: () => Promise<void> }) {
  const started = Date.now();
  const created = await Promise.all(requests.map((r) => call(`${baseUrl()}/api/v1/tenants`, token, { method: "POST", body: r })));
  const ids = created.map((c, i) => {
    if (c.status !== 202) throw new Error(`creating ${requests[i]!.slug} answered ${c.status}: ${JSON.stringify(c.body)}`);
    return c.body.tenant.id as string;
  });
  let statusReads = 0;
  let status5xx = 0;
  const serverErrors: string[] = [];
  const last = new Map<string, any>();
  let allActiveMs = -1;
  while (Date.now() - started < options.timeoutMs) {
    const open = ids.filter((id) => !["ACTIVE", "FAILED"].includes(last.get(id)?.status));
    if (open.length === 0) break;
    await Promise.all(open.map(async (id) => {
      let res: { status: number; body: any };
      try {
        res = await call(`${baseUrl()}/api/v1/tenants/${id}/provisioning/status`, token);
      } catch (error) {
        // Connection refused: the process being read from was just killed on purpose; not an answer.
        if (/fetch failed/.test(String(error))) return;
        throw error;
      }
      statusReads++;
      if (res.status >= 500) {
        status5xx++;
        serverErrors.push(`${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      } else if (res.status === 200) {
        last.set(id, res.body);
      }
    }));
    if (ids.every((id) => last.get(id)?.status === "ACTIVE")) {
      allActiveMs = Date.now() - started;
      break;
    }
    await options.onTick?.();
    await new Promise((r) => setTimeout(r, 250));
  }
  return { ids, last, statusReads, status5xx, serverErrors, allActiveMs };
}

/** Attempts beyond the first, over every tenant's audit trail. */
export async function countRetries(baseUrl: string, token: string, ids: string[]): Promise<{ retries: number; audits: Map<string, any[]> }> {
  let retries = 0;
  const audits = new Map<string, any[]>();
  for (const id of ids) {
    const items = (await call(`${baseUrl}/api/v1/tenants/${id}/audit?limit=1000`, token)).body.items as any[];
    audits.set(id, items);
    retries += items.filter((a) => a.entity === "run" && a.to === "RUNNING" && /attempt (\d+) of/.exec(a.message)?.[1] !== "1").length;
  }
  return { retries, audits };
}

export function printFigures(name: string, figures: Partial<SoakFigures> & Record<string, unknown>): void {
  // One line a closing note can quote as it is.
  console.log(`SOAK ${name}: ${Object.entries(figures).map(([k, v]) => `${k}=${v}`).join(" ")}`);
}
