import { randomUUID } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { NodeStreamableHTTPServerTransport, toNodeHandler } from "@modelcontextprotocol/node";
import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import { z } from "zod";

/**
 * Real MCP servers for tests, built with the official TypeScript SDK (v2) on loopback:
 * - `stateful`: the 2025-era Streamable HTTP transport with sessions (`initialize`, `Mcp-Session-Id`); it
 *   answers only the 2025 protocol, so a negotiating client falls back to `initialize`.
 * - `stateless`: the SDK's 2026-07-28 entry (`createMcpHandler`, 2025 traffic refused): no initialize, no
 *   session, `server/discover`, per-request `_meta`.
 * Each records what reached it (JSON-RPC method and the request headers) and can be told to fail.
 */

export interface SeenRequest {
  httpMethod: string;
  /** JSON-RPC method of a POST body ("" for GET/DELETE or a batch). */
  rpcMethod: string;
  /** Tool name of a tools/call. */
  tool: string;
  headers: IncomingHttpHeaders;
  url: string;
}

export interface McpTestServerOptions {
  era: "stateful" | "stateless";
  /** Tool names; each answers `<name>:<text argument>`. Default: echo, add, search, delete. */
  tools?: string[];
  name?: string;
  /** Answer SSE (the SDK's default) or plain JSON (stateful only). */
  json?: boolean;
  /** 2026-07-28 cache hint of the tools/list result (default 60 s; 0 = immediately stale). */
  listTtlMs?: number;
}

export interface McpTestServer {
  url: string;
  seen: SeenRequest[];
  count(rpcMethod: string, tool?: string): number;
  /** The next `times` requests get `status` (no MCP processing). */
  failNext(times: number, status: number): void;
  /** Every request fails with `status` until `failNext(0, …)` / `recover()`. */
  failAlways(status: number): void;
  recover(): void;
  /** Forgets every session (stateful): the next request with an old session id gets 404. */
  dropSessions(): void;
  /** Replaces the tool list served from now on. */
  setTools(tools: string[]): void;
  sessionCount(): number;
  close(): Promise<void>;
}

export const DEFAULT_TOOLS = ["add", "delete", "echo", "search"];

function buildServer(name: string, tools: readonly string[], listTtlMs: number): McpServer {
  const server = new McpServer(
    { name, version: "1.2.3" },
    { capabilities: { tools: {} }, cacheHints: { "tools/list": { ttlMs: listTtlMs, cacheScope: "public" } } },
  );
  for (const tool of tools) {
    server.registerTool(
      tool,
      { description: `the ${tool} tool`, inputSchema: z.object({ text: z.string().optional() }) },
      async ({ text }) => ({
        // "big" answers 3 MiB, past the gateway's bound on an MCP answer.
        content: [
          { type: "text", text: tool === "big" ? "x".repeat(3 * 1024 * 1024) : `${tool}:${text ?? ""}` },
        ],
      }),
    );
  }
  return server;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function rpcOf(body: unknown): { method: string; tool: string } {
  if (body && typeof body === "object" && !Array.isArray(body)) {
    const msg = body as { method?: unknown; params?: { name?: unknown } };
    return {
      method: typeof msg.method === "string" ? msg.method : "",
      tool: msg.method === "tools/call" && typeof msg.params?.name === "string" ? msg.params.name : "",
    };
  }
  return { method: "", tool: "" };
}

export async function startMcpTestServer(opts: McpTestServerOptions): Promise<McpTestServer> {
  const name = opts.name ?? `${opts.era}-test-server`;
  let tools = [...(opts.tools ?? DEFAULT_TOOLS)];
  const seen: SeenRequest[] = [];
  let failures = 0;
  let failStatus = 0;
  let always = false;
  const sessions = new Map<string, NodeStreamableHTTPServerTransport>();

  const modern = createMcpHandler(() => buildServer(name, tools, opts.listTtlMs ?? 60_000), {
    legacy: "reject",
  });
  const serveModern = toNodeHandler(modern);

  async function serveStateful(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    const sessionId = req.headers["mcp-session-id"];
    if (typeof sessionId === "string") {
      const transport = sessions.get(sessionId);
      if (!transport) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(
          JSON.stringify({ jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null }),
        );
        return;
      }
      await transport.handleRequest(req, res, body);
      return;
    }
    if (req.method !== "POST" || rpcOf(body).method !== "initialize") {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          jsonrpc: "2.0",
          error: { code: -32000, message: "Bad Request: No valid session ID provided" },
          id: null,
        }),
      );
      return;
    }
    const transport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: opts.json === true,
      onsessioninitialized: (id) => {
        sessions.set(id, transport);
      },
    });
    await buildServer(name, tools, opts.listTtlMs ?? 60_000).connect(transport);
    await transport.handleRequest(req, res, body);
  }

  const server = createServer((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      let body: unknown;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw.toString("utf8"));
        } catch {
          body = undefined;
        }
      }
      const rpc = rpcOf(body);
      seen.push({
        httpMethod: req.method ?? "",
        rpcMethod: rpc.method,
        tool: rpc.tool,
        headers: req.headers,
        url: req.url ?? "",
      });
      if (always || failures > 0) {
        if (!always) failures--;
        res.writeHead(failStatus, { "content-type": "text/plain" });
        res.end(`injected failure ${failStatus}`);
        return;
      }
      if (opts.era === "stateless") await serveModern(req, res, body);
      else await serveStateful(req, res, body);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/mcp`,
    seen,
    count: (rpcMethod, tool) =>
      seen.filter((s) => s.rpcMethod === rpcMethod && (tool === undefined || s.tool === tool)).length,
    failNext(times, status) {
      failures = times;
      failStatus = status;
      always = false;
    },
    failAlways(status) {
      failStatus = status;
      always = true;
    },
    recover() {
      failures = 0;
      always = false;
    },
    dropSessions() {
      for (const transport of sessions.values()) void transport.close();
      sessions.clear();
    },
    setTools(next) {
      tools = [...next];
    },
    sessionCount: () => sessions.size,
    async close() {
      for (const transport of sessions.values()) await transport.close().catch(() => {});
      sessions.clear();
      await modern.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
