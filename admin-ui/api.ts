/**
 * The API client: every call carries the bearer token from the session, and
 * every refusal becomes an ApiProblem with the API's own code, message and
 * per-field problems, so that views can show exactly what the API said.
 */
import type {
  ActionRequested, AuditEntry, Change, DriftHistory, DriftResult, DriftRun, FleetChange, FleetPage, FleetRollout, Platform, PlatformSettingsVersion, PreviewResult, ProvisioningStatus,
  ReviewQueuePage, RolloutWaves, RunQueued, Session, Tenant,
} from "./types.ts";

export interface FieldProblem {
  field: string;
  message: string;
}

export class ApiProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldProblem[];
  /** The answer's `details` as sent (per-field problems, or more about the refusal, such as whether a failed drift check was kept). */
  readonly details: unknown;
  constructor(status: number, code: string, message: string, fields: FieldProblem[] = [], details: unknown = undefined) {
    super(message);
    this.name = "ApiProblem";
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.details = details;
  }
}

const isFieldProblem = (value: unknown): value is FieldProblem =>
  typeof value === "object" && value !== null && typeof (value as FieldProblem).field === "string" && typeof (value as FieldProblem).message === "string";

export class Api {
  private readonly token: string;
  /** Called when the service no longer accepts the token, wherever that happens. */
  onUnauthorized: () => void = () => undefined;

  constructor(token: string) {
    this.token = token;
  }

  private async call<T>(method: string, path: string, body?: unknown, signInCheck = false): Promise<T> {
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        headers: { authorization: `Bearer ${this.token}`, accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        cache: "no-store",
      });
    } catch {
      throw new ApiProblem(0, "unreachable", "The service did not answer. Check your connection and try again.");
    }
    const text = await response.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON (a proxy's error page, say): described by the status below.
    }
    if (!response.ok) {
      const error = (json ?? {}) as { code?: string; message?: string; details?: unknown };
      if (response.status === 401 && !signInCheck) this.onUnauthorized();
      const fields = Array.isArray(error.details) ? error.details.filter(isFieldProblem) : [];
      throw new ApiProblem(response.status, error.code ?? `http_${response.status}`, error.message ?? `The service answered ${response.status} ${response.statusText}.`, fields, error.details);
    }
    return json as T;
  }

  session(): Promise<Session> {
    return this.call("GET", "/api/v1/session", undefined, true);
  }

  platform(): Promise<Platform> {
    return this.call("GET", "/api/v1/platform");
  }

  fleet(query: { status?: string; tier?: string; drift?: string; search?: string; limit: number; offset: number }): Promise<FleetPage> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== "") params.set(key, String(value));
    return this.call("GET", `/api/v1/fleet?${params}`);
  }

  /** Changes awaiting review across the fleet (PENDING_REVIEW, oldest first); `tier` is the tenant's current tier, `requestedBy` a principal, matched exactly. */
  reviewQueue(query: { tenant?: string; tier?: string; requestedBy?: string; limit: number; offset: number }): Promise<ReviewQueuePage> {
    const params = new URLSearchParams({ status: "PENDING_REVIEW" });
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== "") params.set(key, String(value));
    return this.call("GET", `/api/v1/changes?${params}`);
  }

  tenant(idOrSlug: string): Promise<Tenant> {
    return this.call("GET", `/api/v1/tenants/${encodeURIComponent(idOrSlug)}`);
  }

  status(idOrSlug: string): Promise<ProvisioningStatus> {
    return this.call("GET", `/api/v1/tenants/${encodeURIComponent(idOrSlug)}/provisioning/status`);
  }

  audit(idOrSlug: string, after = 0): Promise<{ items: AuditEntry[] }> {
    return this.call("GET", `/api/v1/tenants/${encodeURIComponent(idOrSlug)}/audit?after=${after}&limit=1000`);
  }

  /** 202 {tenant, run}: the tenant as recorded and its queued provisioning run. */
  create(request: { slug: string; displayName: string; tier: string; region: string; adminEmail: string }): Promise<{ tenant: Tenant; run: { id: string; kind: string; status: string; targetPhase: number } }> {
    return this.call("POST", "/api/v1/tenants", request);
  }

  retry(id: string): Promise<unknown> {
    return this.call("POST", `/api/v1/tenants/${encodeURIComponent(id)}/provisioning/retry`);
  }

  /** 202: the rollback run queued, or (four eyes, a rollback that deletes a stateful phase) the request another admin must approve. */
  rollback(id: string, targetPhase: number): Promise<RunQueued | ActionRequested> {
    return this.call("POST", `/api/v1/tenants/${encodeURIComponent(id)}/rollback`, { targetPhase });
  }

  /**
   * 202: the teardown run queued, or (four eyes) the request another admin must approve. `confirm` is the
   * slug the admin typed: the service deletes an ACTIVE tenant only with it.
   */
  remove(id: string, confirm: string): Promise<RunQueued | ActionRequested> {
    return this.call("DELETE", `/api/v1/tenants/${encodeURIComponent(id)}?confirm=${encodeURIComponent(confirm)}`);
  }

  preview(id: string): Promise<PreviewResult> {
    // All resources: the view lists phases with changes first and folds the unchanged ones.
    return this.call("POST", `/api/v1/tenants/${encodeURIComponent(id)}/preview?include=same`, {});
  }

  /** A one-off check; an ACTIVE tenant's is kept in its drift history (`recorded`), which the fleet stream then announces. */
  driftCheck(id: string): Promise<DriftResult> {
    return this.call("POST", `/api/v1/tenants/${encodeURIComponent(id)}/drift-check`);
  }

  changes(id: string): Promise<{ items: Change[] }> {
    return this.call("GET", `/api/v1/tenants/${encodeURIComponent(id)}/changes?limit=50`);
  }

  /** 202 with the change PREVIEWING; an empty body converges the tenant to its recorded spec. */
  requestChange(id: string, body: { tier?: string; lastPhase?: number; reason?: string }): Promise<Change> {
    return this.call("POST", `/api/v1/tenants/${encodeURIComponent(id)}/changes`, body);
  }

  approveChange(id: string, changeId: string, allowDestructive: boolean): Promise<{ change: Change; tenant: Tenant }> {
    return this.call("POST", `/api/v1/tenants/${encodeURIComponent(id)}/changes/${encodeURIComponent(changeId)}/approve`, allowDestructive ? { allowDestructive: true } : {});
  }

  rejectChange(id: string, changeId: string, reason: string): Promise<Change> {
    return this.call("POST", `/api/v1/tenants/${encodeURIComponent(id)}/changes/${encodeURIComponent(changeId)}/reject`, reason ? { reason } : {});
  }

  driftHistory(id: string, limit: number): Promise<DriftHistory> {
    return this.call("GET", `/api/v1/tenants/${encodeURIComponent(id)}/drift?limit=${limit}`);
  }

  /** Starts a fleet drift run (or answers the one already going). */
  startDriftRun(): Promise<{ id: string }> {
    return this.call("POST", "/api/v1/drift/runs");
  }

  driftRun(runId: string): Promise<DriftRun> {
    return this.call("GET", `/api/v1/drift/runs/${encodeURIComponent(runId)}`);
  }

  /** The current platform settings version (secrets masked): a fleet change's "before". */
  platformSettings(): Promise<PlatformSettingsVersion> {
    return this.call("GET", "/api/v1/platform/settings");
  }

  fleetChange(id: string): Promise<FleetChange> {
    return this.call("GET", `/api/v1/fleet/changes/${encodeURIComponent(id)}`);
  }

  /** 202 with the rollout the approval started. */
  approveFleetChange(id: string, body: { allowDestructive?: boolean; waves?: RolloutWaves }): Promise<FleetRollout> {
    return this.call("POST", `/api/v1/fleet/changes/${encodeURIComponent(id)}/approve`, body);
  }

  rejectFleetChange(id: string, reason: string): Promise<FleetChange> {
    return this.call("POST", `/api/v1/fleet/changes/${encodeURIComponent(id)}/reject`, reason ? { reason } : {});
  }

  rollout(id: string): Promise<FleetRollout> {
    return this.call("GET", `/api/v1/fleet/rollouts/${encodeURIComponent(id)}`);
  }

  /** pause, resume (after a halt the failed tenants are applied again) or abort; answers the rollout. */
  controlRollout(id: string, verb: "pause" | "resume" | "abort"): Promise<FleetRollout> {
    return this.call("POST", `/api/v1/fleet/rollouts/${encodeURIComponent(id)}/${verb}`, {});
  }

  /** A WebSocket URL on this origin; browsers cannot set headers on a WebSocket, so the token goes in the query. */
  socketUrl(path: string): string {
    const url = new URL(path, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("access_token", this.token);
    return url.toString();
  }
}
