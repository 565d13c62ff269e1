import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createSigilumVerifier } from "@sigilum-gw/shared/http-signatures";

/**
 * A real HTTP control-plane feed on loopback (spec/gateway.md §4.2 and §4.4): serves the approved-claims feed
 * page by page and records claim submissions. It checks what the real control plane checks first: the service
 * API key and the gateway's Sigilum signature.
 */

export interface RecordedSubmission {
  headers: IncomingMessage["headers"];
  body: Record<string, unknown>;
}

export type FeedMode = "ok" | "error503" | "destroy";

export interface FeedServer {
  url: string;
  /** service → approved (namespace, public_key) pairs */
  approvals: Map<string, { namespace: string; public_key: string }[]>;
  approve(service: string, namespace: string, publicKey: string): void;
  revoke(service: string, namespace: string, publicKey: string): void;
  mode: FeedMode;
  /** Delay before every answer (slow control plane). */
  delayMs: number;
  /** Largest page the server returns whatever `limit` asks (paging tests). */
  maxPage: number;
  feedRequests: { service: string; offset: number }[];
  submissions: RecordedSubmission[];
  rejected: number;
  close(): Promise<void>;
}

export async function startFeedServer(options: { apiKey: string }): Promise<FeedServer> {
  const verifier = createSigilumVerifier({ maxAgeSeconds: 300 });
  let base = "";
  const state: FeedServer = {
    url: "",
    approvals: new Map(),
    approve(service, namespace, publicKey) {
      const list = state.approvals.get(service) ?? [];
      list.push({ namespace, public_key: publicKey });
      state.approvals.set(service, list);
    },
    revoke(service, namespace, publicKey) {
      const list = state.approvals.get(service) ?? [];
      state.approvals.set(
        service,
        list.filter((c) => !(c.namespace === namespace && c.public_key === publicKey)),
      );
    },
    mode: "ok",
    delayMs: 0,
    maxPage: 500,
    feedRequests: [],
    submissions: [],
    rejected: 0,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (state.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, state.delayMs));
    if (state.mode === "destroy") return void req.socket.destroy();
    if (state.mode === "error503") {
      res.writeHead(503, { "content-type": "application/json" });
      return void res.end('{"error":"down"}');
    }
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (req.headers.authorization !== `Bearer ${options.apiKey}`) {
      state.rejected++;
      return json(401, { error: "invalid service api key" });
    }
    const signed = verifier.verify({
      method: req.method ?? "GET",
      targetUri: base + (req.url ?? "/"),
      headers: req.headersDistinct,
      body: body.length ? body : null,
    });
    if (!signed.ok) {
      state.rejected++;
      return json(401, { error: `bad signature: ${signed.reason}` });
    }
    const url = new URL(req.url ?? "/", base);
    if (req.method === "GET" && url.pathname === "/v1/namespaces/claims") {
      const service = url.searchParams.get("service") ?? "";
      const offset = Number(url.searchParams.get("offset") ?? "0");
      const limit = Math.min(Number(url.searchParams.get("limit") ?? "500"), state.maxPage);
      state.feedRequests.push({ service, offset });
      const all = state.approvals.get(service) ?? [];
      const page = all.slice(offset, offset + limit);
      return json(200, {
        claims: page.map((c, i) => ({ claim_id: `cl_${offset + i}`, service, subject: "s", ...c })),
        pagination: { limit, offset, total: all.length, has_more: offset + page.length < all.length },
      });
    }
    if (req.method === "POST" && url.pathname === "/v1/claims") {
      const parsed = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
      state.submissions.push({ headers: req.headers, body: parsed });
      return json(201, {
        claim_id: `cl_sub_${state.submissions.length}`,
        status: "pending",
        service: parsed.service,
      });
    }
    json(404, { error: "not found" });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.url = base;
  return state;
}
