import { type Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GatewayError } from "@sigilum-gw/shared/errors";
import { type Dispatcher, request } from "undici";
import { isForbiddenAddressError, type UpstreamAddressGuard } from "../http/upstream-address.ts";
import { asStoreError } from "../store/redis-errors.ts";
import type { DiscoveryService } from "./discovery.ts";
import { mcpEndpointUrl } from "./endpoint.ts";
import { effectivePolicy, exposedTools } from "./policy.ts";
import type { ToolCallRateLimiter } from "./rate-limit.ts";
import type { McpExchange } from "./request.ts";
import { MAX_MCP_RESPONSE_BYTES, ResponseTooLargeError } from "./response-cap.ts";

/**
 * `POST|GET|DELETE /mcp/{id}`: for agents that speak MCP themselves (streamable HTTP, either era). The agent's own
 * JSON-RPC goes to the connection's MCP server with the credential injected; the gateway reads every message
 * rather than trusting headers: a `tools/call` for a tool the subject may not use is answered here with a
 * JSON-RPC error and never sent, tool calls share the runtime rate limit, and a `tools/list` answer (JSON or SSE)
 * is filtered by the same policy on its way back. `Mcp-Method` / `Mcp-Name` must match the body. Only MCP
 * headers cross (session id, protocol version, Mcp-* routing headers, Last-Event-ID); responses are streamed.
 */

export interface PassthroughDeps {
  discovery: DiscoveryService;
  limiter: ToolCallRateLimiter;
  timeoutMs: number;
  /** The same link-local / metadata guard as every other upstream (its dispatcher dials through it). */
  guard: UpstreamAddressGuard;
}

const FORWARDED_REQUEST_HEADERS = new Set([
  "content-type",
  "accept",
  "mcp-session-id",
  "mcp-protocol-version",
  "last-event-id",
]);
const RELAYED_RESPONSE_HEADERS = ["content-type", "mcp-session-id", "mcp-protocol-version", "cache-control"];

/** JSON-RPC "invalid params": what an MCP server answers for a tool it does not offer. */
const INVALID_PARAMS = -32602;
const LIMITED = -32000;

interface RpcMessage {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  params?: { name?: unknown; uri?: unknown } & Record<string, unknown>;
}

function parseMessage(body: Buffer | null): RpcMessage | undefined {
  if (!body || body.length === 0) return undefined;
  try {
    const parsed: unknown = JSON.parse(body.toString("utf8"));
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as RpcMessage;
  } catch {
    return undefined;
  }
  return undefined;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The Mcp-Name a 2026-07-28 request carries for its method. */
function nameOf(message: RpcMessage): string | undefined {
  const params = message.params;
  if (!params || typeof params !== "object") return undefined;
  if (message.method === "tools/call" || message.method === "prompts/get") {
    return typeof params.name === "string" ? params.name : undefined;
  }
  if (message.method === "resources/read") return typeof params.uri === "string" ? params.uri : undefined;
  return undefined;
}

export async function passthrough(ex: McpExchange): Promise<void> {
  const { req, res, resolved, identity } = ex;
  const deps = ex.deps.passthrough;
  const method = (req.method ?? "GET").toUpperCase();
  if (method !== "POST" && method !== "GET" && method !== "DELETE") return void ex.fail("METHOD_NOT_ALLOWED");

  const message = method === "POST" ? parseMessage(ex.body) : undefined;
  if (method === "POST" && !message) {
    return void ex.fail(
      "INVALID_REQUEST",
      "request body must be one JSON-RPC message (batches are not accepted)",
    );
  }
  const rpcMethod = typeof message?.method === "string" ? message.method : undefined;
  const headerMethod = single(req.headers["mcp-method"]);
  const headerName = single(req.headers["mcp-name"]);
  if (headerMethod !== undefined && headerMethod !== rpcMethod) {
    return void ex.fail("INVALID_REQUEST", "Mcp-Method header does not match the JSON-RPC body");
  }
  if (headerName !== undefined && message && headerName !== nameOf(message)) {
    return void ex.fail("INVALID_REQUEST", "Mcp-Name header does not match the JSON-RPC body");
  }

  const url = mcpEndpointUrl(resolved.record);
  try {
    deps.guard.check(url);
  } catch {
    return void ex.fail("UPSTREAM_ADDRESS_FORBIDDEN");
  }
  const policy = effectivePolicy(resolved.record, identity?.subject ?? "");
  const target = { record: resolved.record, credential: resolved.credential };
  if (rpcMethod === "tools/call" && message) {
    let refusal: Refusal | undefined;
    try {
      refusal = await admitToolCall(ex, nameOf(message) ?? "", target, policy);
    } catch (raw) {
      const err = asStoreError(raw);
      if (err instanceof GatewayError) return void ex.fail(err.code, err.message);
      throw err;
    }
    if (refusal) return rpcError(ex, message.id, refusal.code, refusal.message, refusal.gatewayCode);
  }

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    const lower = name.toLowerCase();
    const v = single(value);
    if (v === undefined) continue;
    if (FORWARDED_REQUEST_HEADERS.has(lower) || lower.startsWith("mcp-param-")) headers[lower] = v;
  }
  if (headerMethod !== undefined) headers["mcp-method"] = headerMethod;
  if (headerName !== undefined) headers["mcp-name"] = headerName;
  const credential = resolved.credential;
  if (credential !== "") {
    const value = resolved.record.auth_prefix + credential;
    if (resolved.record.auth_mode === "query_param")
      url.searchParams.set(resolved.record.auth_header_name, value);
    else headers[resolved.record.auth_header_name.toLowerCase()] = value;
  }

  let upstream: Dispatcher.ResponseData;
  try {
    upstream = await request(url, {
      method,
      headers,
      body: method === "POST" ? ex.body : null,
      headersTimeout: deps.timeoutMs,
      // A GET is the server's listening stream: it may stay silent for long.
      bodyTimeout: method === "GET" ? 0 : deps.timeoutMs,
      dispatcher: deps.guard.dispatcher,
    });
  } catch (err) {
    return void ex.fail(isForbiddenAddressError(err) ? "UPSTREAM_ADDRESS_FORBIDDEN" : "UPSTREAM_ERROR");
  }
  if (rpcMethod === "tools/call") {
    ex.deps.metrics.mcp.mcpToolCallTotal.inc({ result: upstream.statusCode < 400 ? "success" : "error" });
  }

  res.statusCode = upstream.statusCode;
  for (const [name, value] of Object.entries(ex.headers)) res.setHeader(name, value);
  for (const name of RELAYED_RESPONSE_HEADERS) {
    const value = upstream.headers[name];
    if (value !== undefined) res.setHeader(name, value);
  }
  const contentType = single(upstream.headers["content-type"]) ?? "";
  const stream = contentType.includes("text/event-stream");
  const filtering = rpcMethod === "tools/list" && upstream.statusCode < 300;
  const filter = (payload: unknown) => filterToolsListAnswer(payload, message?.id, policy);
  try {
    if (filtering && contentType.includes("application/json")) {
      const text = await readCapped(upstream.body, MAX_MCP_RESPONSE_BYTES);
      let out = text;
      try {
        out = JSON.stringify(filter(JSON.parse(text)));
      } catch {
        out = text;
      }
      // Durable usage: the event is stored before the answer ends (cut when it cannot be).
      if (!(await ex.beforeEnd(res.statusCode, Buffer.byteLength(out)))) return;
      res.setHeader("content-length", Buffer.byteLength(out));
      res.end(out);
      return;
    }
    let relayed = 0;
    const count = (chunk: Buffer) => {
      relayed += chunk.length;
    };
    if (stream) {
      res.flushHeaders();
      upstream.body.on("data", count);
      if (filtering) {
        await pipeline(upstream.body, new SseRewriter(filter, MAX_MCP_RESPONSE_BYTES), res, { end: false });
      } else await pipeline(upstream.body, res, { end: false });
    } else {
      // Durable usage: sent chunked, so the agent holds the whole answer only at res.end(), after the event is
      // stored (with a Content-Length the last byte would complete it first).
      const length = single(upstream.headers["content-length"]);
      if (length !== undefined && !ex.durableUsage) res.setHeader("content-length", length);
      upstream.body.on("data", count);
      await pipeline(upstream.body as Readable, res, { end: false });
    }
    if (await ex.beforeEnd(res.statusCode, relayed)) res.end();
  } catch {
    upstream.body.on("error", () => {});
    upstream.body.destroy();
    if (!res.headersSent) return void ex.fail("UPSTREAM_ERROR", "mcp server response could not be relayed");
    if (!res.writableEnded) res.destroy();
  }
}

interface Refusal {
  code: number;
  message: string;
  gatewayCode: string;
}

/** The policy and the shared rate limit, before a tools/call is sent (undefined: send it). */
async function admitToolCall(
  ex: McpExchange,
  tool: string,
  target: { record: McpExchange["resolved"]["record"]; credential: string },
  policy: ReturnType<typeof effectivePolicy>,
): Promise<Refusal | undefined> {
  const counter = ex.deps.metrics.mcp.mcpToolCallTotal;
  const { snapshot } = await ex.deps.discovery.get(target, "auto");
  if (!exposedTools(snapshot.tools, policy).some((t) => t.name === tool)) {
    counter.inc({ result: "forbidden" });
    return {
      code: INVALID_PARAMS,
      message: `tool ${JSON.stringify(tool)} is not allowed for subject`,
      gatewayCode: "MCP_TOOL_FORBIDDEN",
    };
  }
  let rate: Awaited<ReturnType<ToolCallRateLimiter["consume"]>>;
  try {
    rate = await ex.deps.passthrough.limiter.consume(ex.route.connectionId, ex.identity?.namespace ?? "");
  } catch {
    throw new GatewayError("REDIS_UNAVAILABLE");
  }
  if (!rate.allowed) {
    counter.inc({ result: "rate_limited" });
    return {
      code: LIMITED,
      message: "mcp tool call rate limit exceeded for this connection and namespace; retry in one minute",
      gatewayCode: "MCP_TOOL_RATE_LIMITED",
    };
  }
  return undefined;
}

/** The whole body as text, refused past `limit` bytes. */
async function readCapped(body: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ResponseTooLargeError(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function rpcError(
  ex: McpExchange,
  id: unknown,
  code: number,
  message: string,
  gatewayCode: string,
): Promise<void> {
  return ex.json(200, {
    jsonrpc: "2.0",
    id: id ?? null,
    error: { code, message, data: { code: gatewayCode } },
  });
}

/** A tools/list answer to request `id` with only the tools the policy exposes. */
export function filterToolsListAnswer(
  payload: unknown,
  id: unknown,
  policy: ReturnType<typeof effectivePolicy>,
): unknown {
  if (!payload || typeof payload !== "object") return payload;
  const message = payload as { id?: unknown; result?: { tools?: unknown } };
  if (message.id !== id || !message.result || !Array.isArray(message.result.tools)) return payload;
  const listed = message.result.tools.filter(
    (t): t is { name: string } =>
      !!t && typeof t === "object" && typeof (t as { name?: unknown }).name === "string",
  );
  const sortedNames = [...listed].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const allowed = new Set(exposedTools(sortedNames, policy).map((t) => t.name));
  return { ...message, result: { ...message.result, tools: listed.filter((t) => allowed.has(t.name)) } };
}

/** Rewrites the `data:` payload of each SSE event through `rewrite` (JSON in, JSON out), event by event. */
class SseRewriter extends Transform {
  #pending = "";
  #event: string[] = [];
  #eventBytes = 0;
  readonly #rewrite: (payload: unknown) => unknown;
  readonly #maxEventBytes: number;

  /** One event may not exceed `maxEventBytes` (a server never ending its event would fill memory). */
  constructor(rewrite: (payload: unknown) => unknown, maxEventBytes: number) {
    super();
    this.#rewrite = rewrite;
    this.#maxEventBytes = maxEventBytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#eventBytes += chunk.length;
    if (this.#eventBytes > this.#maxEventBytes) {
      done(new Error("mcp server event exceeds the size limit"));
      return;
    }
    this.#pending += chunk.toString("utf8");
    let newline = this.#pending.indexOf("\n");
    while (newline !== -1) {
      const line = this.#pending.slice(0, newline).replace(/\r$/, "");
      this.#pending = this.#pending.slice(newline + 1);
      if (line === "") this.#flushEvent();
      else this.#event.push(line);
      newline = this.#pending.indexOf("\n");
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.#pending !== "") this.#event.push(this.#pending);
    if (this.#event.length > 0) this.#flushEvent();
    done();
  }

  #flushEvent(): void {
    const lines = this.#event;
    this.#event = [];
    this.#eventBytes = this.#pending.length;
    const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""));
    if (data.length === 0) {
      this.push(`${lines.join("\n")}\n\n`);
      return;
    }
    let rewritten = data.join("\n");
    try {
      rewritten = JSON.stringify(this.#rewrite(JSON.parse(rewritten)));
    } catch {
      // not JSON: relayed unchanged
    }
    const others = lines.filter((l) => !l.startsWith("data:"));
    this.push(`${[...others, `data: ${rewritten}`].join("\n")}\n\n`);
  }
}
