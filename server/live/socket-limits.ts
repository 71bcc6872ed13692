/**
 * The limits every live WebSocket is held to, one tenant's
 * (/ws/provisioning/{id}) and the fleet's (/ws/provisioning) alike, so that
 * no client can hold the service's sockets: one token may keep
 * `maxPerPrincipal` open across both streams; each is pinged and closed when
 * it misses a pong (a peer gone without a FIN), and closed once it is
 * `maxAgeMs` old (clients reconnect and get a fresh snapshot or reload).
 */
import type { WebSocket } from "ws";

/** Close codes: 1013 "try again later" for limits, 1001 "going away" for age, 1011 for a missed pong. */
export const WS_CLOSE = { tooMany: 1013, tooOld: 1001, noPong: 1011 } as const;

export interface LiveSocketLimitOptions {
  /** Open sockets per token, both streams together. */
  maxPerPrincipal: number;
  /** A socket is closed after this long. */
  maxAgeMs: number;
  /** How often a socket is pinged; one that has not answered the previous ping is closed. */
  pingMs: number;
}

/** Tells the client why in an error message, then closes with 1013 ("try again later"). */
export function refuseSocket(socket: WebSocket, message: string, reason: string): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type: "error", code: "too_many_connections", message }));
  socket.close(WS_CLOSE.tooMany, reason);
}

export class LiveSocketLimits {
  private readonly openPerToken = new Map<string, number>();
  private readonly options: LiveSocketLimitOptions;

  constructor(options: LiveSocketLimitOptions) {
    this.options = options;
  }

  /**
   * Puts a socket that just opened under the limits: it counts against its
   * token until it closes, is pinged, and is closed when too old. Returns
   * false, having told the client and closed the socket, when the token
   * already holds as many as it may.
   */
  admit(socket: WebSocket, tokenId: string): boolean {
    const open = this.openPerToken.get(tokenId) ?? 0;
    if (open >= this.options.maxPerPrincipal) {
      refuseSocket(socket, `this token already has ${open} live connections open; close one first`, "too many connections");
      return false;
    }
    this.openPerToken.set(tokenId, open + 1);
    let alive = true;
    socket.on("pong", () => (alive = true));
    const pinger = setInterval(() => {
      if (!alive) {
        socket.close(WS_CLOSE.noPong, "no pong");
        // A peer that does not answer pings may not answer the close either.
        setTimeout(() => socket.terminate(), 1000).unref();
        return;
      }
      alive = false;
      socket.ping();
    }, this.options.pingMs);
    const ageLimit = setTimeout(() => socket.close(WS_CLOSE.tooOld, "connection too old; reconnect"), this.options.maxAgeMs);
    socket.once("close", () => {
      clearInterval(pinger);
      clearTimeout(ageLimit);
      const left = (this.openPerToken.get(tokenId) ?? 1) - 1;
      if (left > 0) this.openPerToken.set(tokenId, left);
      else this.openPerToken.delete(tokenId);
    });
    return true;
  }

  /** Sockets the token holds open now. */
  openFor(tokenId: string): number {
    return this.openPerToken.get(tokenId) ?? 0;
  }
}
