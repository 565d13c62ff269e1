import { once } from "node:events";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createServer as createTcpServer } from "node:net";

/**
 * A loopback port that nothing listens on right now, to point a client at an address that refuses. Not for a
 * process to listen on (another may take it first): give our services port 0, they report the port they got
 * (LISTEN_ADDRESS_FILE, `sigilum up`'s run/stack.json). Only redis-server (port 0 turns TCP off) and tests that
 * restart a service on the same port still take one this way.
 */
export async function unusedPort(): Promise<number> {
  const server = createTcpServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RecordingServer {
  url: string;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** An HTTP server on loopback that records each request, its body read in full, and lets `answer` respond. */
export async function startRecordingServer(answer: RequestHandler): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    requests.push({
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: body.toString(),
    });
    answer(req, res, body);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An upstream that answers every request 200 with `{"echoed":true,"url":<the request's url>}`. */
export function startEchoServer(): Promise<RecordingServer> {
  return startRecordingServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ echoed: true, url: req.url }));
  });
}

/**
 * The environment of a local stack (`sigilum up`) that lives in `dir` and listens on free ports only (port 0: each
 * service reports the port it got, `up` and run/stack.json say where): its data directory, agent home, owner-token
 * home and every listen address, so a test never touches the developer's stack.
 */
export function isolatedStackEnv(dir: string): Record<string, string> {
  const free = "127.0.0.1:0";
  return {
    HOME: dir,
    SIGILUM_DATA_DIR: `${dir}/data`,
    SIGILUM_HOME: `${dir}/agent`,
    OPENCLAW_HOME: `${dir}/openclaw`,
    LOG_LEVEL: "warn",
    GATEWAY_ADDR: free,
    VERIFIER_ADDR: free,
    PROXY_ADDR: free,
    USAGE_WORKER_ADDR: free,
    CONTROL_PLANE_ADDR: free,
  };
}
