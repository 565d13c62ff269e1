import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** An HTTP upstream that can be stopped and started again on the same port (a provider going away). */
export interface Upstream {
  port: number;
  /** Requests answered so far. */
  served: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  let server: Server | undefined;
  const upstream: Upstream = {
    port: 0,
    served: 0,
    async stop() {
      if (!server) return;
      const closing = server;
      server = undefined;
      closing.closeAllConnections();
      await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
    async start() {
      server = createServer((req, res) => {
        req.resume();
        req.on("end", () => {
          upstream.served++;
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ ok: true, url: req.url }));
        });
      });
      server.listen(upstream.port, "127.0.0.1");
      await once(server, "listening");
      upstream.port = (server.address() as AddressInfo).port;
    },
    close: () => upstream.stop(),
  };
  await upstream.start();
  return upstream;
}
