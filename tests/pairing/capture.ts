import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";

/**
 * A man in the middle between a bridge and the control plane: plain HTTP is passed on, and every WebSocket text
 * frame in either direction is recorded as it crossed the wire (after unmasking), so a test can search them.
 */
export interface FrameCapture {
  url: string;
  frames: string[];
  close(): Promise<void>;
}

export async function startFrameCapture(target: string): Promise<FrameCapture> {
  const frames: string[] = [];
  const server: Server = createServer(async (req, res) => {
    const upstream = await fetch(target + (req.url ?? "/"), { method: req.method });
    res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "text/plain" });
    res.end(await upstream.text());
  });
  const wss = new WebSocketServer({ server });
  wss.on("connection", (client, req) => {
    const upstream = new WebSocket(target.replace(/^http/, "ws") + (req.url ?? "/"));
    const queued: string[] = [];
    upstream.on("open", () => {
      for (const text of queued.splice(0)) upstream.send(text);
    });
    client.on("message", (data) => {
      const text = data.toString();
      frames.push(text);
      if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
      else queued.push(text);
    });
    upstream.on("message", (data) => {
      const text = data.toString();
      frames.push(text);
      client.send(text);
    });
    upstream.on("close", () => client.close());
    client.on("close", () => upstream.close());
    upstream.on("error", () => client.terminate());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    frames,
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise((r) => server.close(r));
    },
  };
}
