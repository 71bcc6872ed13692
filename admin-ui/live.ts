/**
 * Live streams. The fleet stream stays open while signed in and reconnects
 * with a growing pause when the connection drops; a tenant stream lasts one
 * run (the service closes it when the run ends) and is opened again when a
 * new run starts.
 */
import type { LiveMessage } from "./types.ts";

export type StreamState = "connecting" | "live" | "reconnecting" | "closed";

export class FleetStream {
  private socket: WebSocket | null = null;
  private stopped = false;
  private retryMs = 500;
  private timer: number | undefined;
  private readonly url: () => string;
  private readonly onMessage: (message: LiveMessage) => void;
  private readonly onState: (state: StreamState) => void;

  constructor(url: () => string, onMessage: (message: LiveMessage) => void, onState: (state: StreamState) => void) {
    this.url = url;
    this.onMessage = onMessage;
    this.onState = onState;
    this.open();
  }

  private open(): void {
    this.onState(this.retryMs > 500 ? "reconnecting" : "connecting");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data)) as LiveMessage;
      if (message.type === "subscribed") {
        this.retryMs = 500;
        this.onState("live");
      }
      this.onMessage(message);
    });
    socket.addEventListener("close", () => {
      if (this.stopped) return;
      this.onState("reconnecting");
      this.timer = window.setTimeout(() => this.open(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 15_000);
    });
  }

  close(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    this.socket?.close(1000, "signed out");
    this.onState("closed");
  }
}

/** One tenant's stream until its run ends: snapshot, transitions, resource progress, final. */
export function watchTenant(url: string, onMessage: (message: LiveMessage) => void, onClose: (code: number) => void): () => void {
  const socket = new WebSocket(url);
  let closedByUs = false;
  socket.addEventListener("message", (event) => onMessage(JSON.parse(String(event.data)) as LiveMessage));
  socket.addEventListener("close", (event) => {
    if (!closedByUs) onClose(event.code);
  });
  return () => {
    closedByUs = true;
    socket.close(1000, "left the page");
  };
}
