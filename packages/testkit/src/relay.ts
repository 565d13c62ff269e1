import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP relay on loopback, in front of one or more backends: round-robin over them, a backend that refuses the
 * connection is skipped (what Envoy's load balancing does for a dead replica), and every chunk can be held for
 * `delayMs` in each direction (a slow link). Real sockets both sides: nothing in the gateway knows it is there.
 */
export interface Relay {
  port: number;
  url: string;
  /** Delay added to every chunk, each direction. */
  delayMs: number;
  /** Connections accepted so far. */
  accepted: number;
  close(): Promise<void>;
}

export async function startRelay(backends: () => number[], opts: { delayMs?: number } = {}): Promise<Relay> {
  const sockets = new Set<Socket>();
  let next = 0;
  const relay: Relay = {
    port: 0,
    url: "",
    delayMs: opts.delayMs ?? 0,
    accepted: 0,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const pipe = (from: Socket, to: Socket) => {
    from.on("data", (chunk: Buffer) => {
      if (relay.delayMs === 0) to.write(chunk);
      else setTimeout(() => to.writable && to.write(chunk), relay.delayMs);
    });
    from.on("end", () => setTimeout(() => to.end(), relay.delayMs));
  };
  const server: Server = createServer((client) => {
    relay.accepted++;
    sockets.add(client);
    client.pause();
    const ports = backends();
    const attempt = (left: number) => {
      if (left === 0) return void client.destroy();
      const port = ports[next++ % ports.length] as number;
      const upstream = connect(port, "127.0.0.1");
      sockets.add(upstream);
      upstream.once("connect", () => {
        upstream.removeAllListeners("error");
        upstream.on("error", () => client.destroy());
        client.on("error", () => upstream.destroy());
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => {
          sockets.delete(upstream);
          setTimeout(() => client.destroy(), relay.delayMs);
        });
        pipe(client, upstream);
        pipe(upstream, client);
        client.resume();
      });
      upstream.once("error", () => {
        sockets.delete(upstream);
        attempt(left - 1);
      });
    };
    client.on("close", () => sockets.delete(client));
    attempt(ports.length);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  relay.port = typeof address === "object" && address ? address.port : 0;
  relay.url = `http://127.0.0.1:${relay.port}`;
  return relay;
}
