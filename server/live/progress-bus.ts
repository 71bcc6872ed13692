/**
 * Live progress across service processes. A message is delivered at once to
 * this process's subscribers and sent with Postgres NOTIFY to the others,
 * which LISTEN on one dedicated connection; each process ignores its own
 * notifications, so nobody sees a message twice.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import pg from "pg";

export const PROGRESS_CHANNEL = "matih_progress";
/** NOTIFY payloads are limited to 8000 bytes; long texts in a message are cut to fit. */
const MAX_PAYLOAD = 7900;

/** Subscribers one process serves by default (each is an open WebSocket). */
export const DEFAULT_MAX_SUBSCRIBERS = 10_000;

/** The bus serves as many subscribers as it may. */
export class BusFullError extends Error {
  constructor(max: number) {
    super(`the live progress bus already serves ${max} subscribers`);
    this.name = "BusFullError";
  }
}

export type LiveMessage = { readonly type: string; readonly tenantId: string; readonly [key: string]: unknown };
export type LiveListener = (message: LiveMessage) => void;

/** The emitter event every message is also delivered under, for the fleet stream; tenant ids are UUIDs, so it cannot clash. */
const EVERY_TENANT = Symbol("every tenant");

interface Envelope {
  origin: string;
  message: LiveMessage;
}

export class ProgressBus {
  private readonly origin = randomUUID();
  private readonly emitter = new EventEmitter();
  private readonly pool: pg.Pool;
  private readonly databaseUrl: string;
  private listener: pg.Client | null = null;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly onError: (error: Error) => void;

  private readonly maxSubscribers: number;
  private subscribers = 0;

  constructor(options: { pool: pg.Pool; databaseUrl: string; onError?: (error: Error) => void; maxSubscribers?: number }) {
    this.pool = options.pool;
    this.databaseUrl = options.databaseUrl;
    this.onError = options.onError ?? (() => undefined);
    this.maxSubscribers = options.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS;
    // Per tenant (or fleet-wide) there may be many watchers; the bound is on the whole bus (subscribe and subscribeAll refuse beyond it).
    this.emitter.setMaxListeners(this.maxSubscribers);
  }

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: "matih-progress-listener" });
    client.on("notification", (n) => {
      if (n.channel !== PROGRESS_CHANNEL || !n.payload) return;
      try {
        const envelope = JSON.parse(n.payload) as Envelope;
        if (envelope.origin !== this.origin) this.deliver(envelope.message);
      } catch {
        // Not ours, or cut: ignore rather than break the stream.
      }
    });
    client.on("error", (error) => {
      this.onError(error);
      this.scheduleReconnect();
    });
    client.on("end", () => this.scheduleReconnect());
    await client.connect();
    await client.query(`LISTEN ${PROGRESS_CHANNEL}`);
    this.listener = client;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.listener = null;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect().catch((error: Error) => {
        this.onError(error);
        this.scheduleReconnect();
      });
    }, 1000);
    this.reconnectTimer.unref();
  }

  private deliver(message: LiveMessage): void {
    this.emitter.emit(message.tenantId, message);
    this.emitter.emit(EVERY_TENANT, message);
  }

  /** Delivers locally now and to other processes through NOTIFY. */
  async publish(message: LiveMessage): Promise<void> {
    this.deliver(message);
    let payload = JSON.stringify({ origin: this.origin, message } satisfies Envelope);
    if (Buffer.byteLength(payload) > MAX_PAYLOAD) {
      payload = JSON.stringify({ origin: this.origin, message: { type: message.type, tenantId: message.tenantId, truncated: true } });
    }
    try {
      await this.pool.query("SELECT pg_notify($1, $2)", [PROGRESS_CHANNEL, payload]);
    } catch (error) {
      // Live updates are best effort; the database rows are the record.
      this.onError(error as Error);
    }
  }

  /** Calls `listener` for every message about the tenant until the returned function is called; throws BusFullError at the limit. */
  subscribe(tenantId: string, listener: LiveListener): () => void {
    return this.add(tenantId, listener);
  }

  private add(event: string | symbol, listener: LiveListener): () => void {
    if (this.subscribers >= this.maxSubscribers) throw new BusFullError(this.maxSubscribers);
    this.subscribers += 1;
    this.emitter.on(event, listener);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.subscribers -= 1;
      this.emitter.off(event, listener);
    };
  }

  /** Subscribers of both kinds, per tenant and fleet-wide. */
  subscriberTotal(): number {
    return this.subscribers;
  }

  /**
   * Calls `listener` for every message about any tenant (the fleet stream)
   * until the returned function is called; counts against the same limit as
   * `subscribe` and throws BusFullError at it.
   */
  subscribeAll(listener: LiveListener): () => void {
    return this.add(EVERY_TENANT, listener);
  }

  subscriberCount(tenantId: string): number {
    return this.emitter.listenerCount(tenantId);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.listener;
    this.listener = null;
    await client?.end().catch(() => undefined);
  }
}
