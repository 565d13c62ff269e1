import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** Requests whose bytes the test controls: node:http with the path as given, or a raw socket. */

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The envelope's `code` (x-sigilum-code when the body is not JSON), or undefined. */
  code: string | undefined;
}

function codeOf(headers: IncomingHttpHeaders, text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { code?: unknown };
    if (typeof parsed.code === "string") return parsed.code;
  } catch {
    // not JSON: fall back to the header
  }
  const header = headers["x-sigilum-code"];
  return typeof header === "string" ? header : undefined;
}

export interface SendOptions {
  method?: string;
  /** Name → value, or a list of [name, value] pairs to repeat a header or keep an exact order. */
  headers?: Record<string, string> | [string, string][];
  body?: string | Uint8Array | null;
}

export function send(base: string, path: string, opts: SendOptions = {}): Promise<Reply> {
  const url = new URL(base);
  const pairs = Array.isArray(opts.headers) ? opts.headers : Object.entries(opts.headers ?? {});
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: opts.method ?? "GET",
        path,
        agent: false,
        setHost: !pairs.some(([name]) => name.toLowerCase() === "host"),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            code: codeOf(res.headers, text),
          });
        });
      },
    );
    for (const [name, value] of pairs) {
      const existing = req.getHeader(name);
      if (existing === undefined) req.setHeader(name, value);
      else req.setHeader(name, [...(Array.isArray(existing) ? existing : [String(existing)]), value]);
    }
    req.on("error", reject);
    req.end(opts.body ?? undefined);
  });
}

/** The signed request as the SDK produced it, sent to `base` with the same path (Host: the base's). */
export function sendSigned(
  base: string,
  signed: { url: string; method: string; headers: Record<string, string>; body: Uint8Array | null },
  extra: { headers?: [string, string][]; path?: string } = {},
): Promise<Reply> {
  const target = new URL(signed.url);
  return send(base, extra.path ?? target.pathname + target.search, {
    method: signed.method,
    headers: [...Object.entries(signed.headers), ...(extra.headers ?? [])],
    body: signed.body,
  });
}

export interface RawReply {
  /** Everything the server wrote before closing or going quiet. */
  text: string;
  /** Status codes of every response on the connection, in order. */
  statuses: number[];
}

/** Writes `bytes` on a fresh TCP connection and collects the answer until close or `quietMs` of silence. */
export function sendRaw(
  base: string,
  bytes: string | Buffer,
  opts: { quietMs?: number; chunks?: { data: string; delayMs: number }[] } = {},
): Promise<RawReply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let text = "";
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ text, statuses });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(done, opts.quietMs ?? 1500);
    };
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      arm();
    });
    socket.on("end", done);
    socket.on("close", done);
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ECONNRESET" || err.code === "EPIPE") done();
      else reject(err);
    });
    socket.on("connect", async () => {
      socket.write(bytes);
      for (const chunk of opts.chunks ?? []) {
        await sleep(chunk.delayMs);
        if (!socket.destroyed) socket.write(chunk.data);
      }
      arm();
    });
  });
}
