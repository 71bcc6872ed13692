import { createConnection, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy to a PostgreSQL server that cuts every connection (both ends)
 * once it has carried `cutAfterBytes` from the client: only a restore's data
 * stream gets that far. With `refuseAfterCut`, later connections are refused
 * too, as when the server goes away altogether.
 */
export async function cuttingProxy<T extends { host: string; port: number }>(
  target: T,
  cutAfterBytes: number,
  refuseAfterCut = false,
): Promise<{ endpoint: T; cuts: () => number; close: () => Promise<void> }> {
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    if (refuseAfterCut && cuts > 0) { client.destroy(); return; }
    const upstream = createConnection({ host: target.host, port: target.port });
    sockets.add(upstream);
    let carried = 0;
    client.on("data", (chunk: Buffer) => {
      carried += chunk.length;
      if (carried > cutAfterBytes) {
        cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    for (const s of [client, upstream]) {
      s.on("error", () => undefined);
      s.on("close", () => { client.destroy(); upstream.destroy(); });
    }
  });
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
  return {
    endpoint: { ...target, port },
    cuts: () => cuts,
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}
