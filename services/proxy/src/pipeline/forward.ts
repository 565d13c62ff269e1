import type { ServerResponse } from "node:http";
import type { ErrorCode } from "@sigilum-gw/shared/errors";
import { deny, ok, type Result } from "@sigilum-gw/shared/stage";
import { Agent, type Dispatcher } from "undici";
import { filterResponseHeaders } from "../http/response-headers.ts";
import { FORBIDDEN_ADDRESS_CODE, forbiddenLiteral, guardedLookup } from "../http/upstream-address.ts";
import type { ForwardFailure, ProxyDetail } from "./exchange.ts";

/**
 * Forwards one request with undici's dispatcher API and streams the response straight into the client's
 * ServerResponse: no buffering, and upstream reads pause while the client socket is full (backpressure), so
 * memory does not grow with the response size. Chosen over http-proxy-middleware by the bench
 * (docs/decisions.md, "Proxy forwarding"). A forward that produced no answer is a denial (stage `forward`) for
 * errors.ts to answer, except when the client left first.
 */

export interface UpstreamTarget {
  origin: string;
  /** Path and query, ready for the request line. */
  path: string;
  /** Value for the Host header. */
  host: string;
}

export interface ForwarderOptions {
  /** Route deadline for the upstream's response headers, and the longest silence allowed inside a body. */
  timeoutMs: number;
  connectTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  /** Max sockets per upstream origin (undefined = unlimited). */
  connectionsPerOrigin?: number;
  /** GATEWAY_ALLOW_LINK_LOCAL_UPSTREAMS: let connections reach link-local and cloud metadata addresses. */
  allowLinkLocal?: boolean;
}

export interface ForwardRequest {
  target: UpstreamTarget;
  method: string;
  headers: string[];
  /** The buffered request body (bounded by GATEWAY_MAX_REQUEST_BODY_BYTES), or null for none. */
  body: Buffer | null;
  res: ServerResponse;
  /** Added to the client response (x-request-id when the upstream has none, rotation warning). */
  responseHeaders: readonly (readonly [string, string])[];
  /**
   * Called when the upstream response is complete, before the client's response is ended: the client sees the
   * end only after it resolves, and a cut response when it rejects (durable usage events).
   */
  beforeEnd?: (status: number, responseBytes: number, durationMs: number) => Promise<void>;
}

/** The upstream answered: its response was relayed (whole, or cut when the exchange broke midway). */
export interface Forwarded {
  status: number;
  responseBytes: number;
  /** False when the exchange broke after the response headers were sent (the client got a cut response). */
  complete: boolean;
  durationMs: number;
}

export type ForwardResult = Result<Forwarded, ProxyDetail>;

/** client_closed is never answered (nobody is left); its code only names it. */
const CODE_OF: Record<ForwardFailure, ErrorCode> = {
  timeout: "UPSTREAM_TIMEOUT",
  unreachable: "UPSTREAM_ERROR",
  forbidden_address: "UPSTREAM_ADDRESS_FORBIDDEN",
  client_closed: "UPSTREAM_ERROR",
};

function failed(failure: ForwardFailure, error: Error, durationMs: number): ForwardResult {
  return deny("forward", CODE_OF[failure], { detail: { forward: { failure, error, durationMs } } });
}

const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

function classify(err: Error, clientClosed: boolean): ForwardFailure {
  if (clientClosed) return "client_closed";
  const code = (err as { code?: string }).code;
  if (code === FORBIDDEN_ADDRESS_CODE) return "forbidden_address";
  if (code !== undefined && TIMEOUT_CODES.has(code)) return "timeout";
  return "unreachable";
}

export class Forwarder {
  readonly #agent: Agent;
  readonly #timeoutMs: number;
  readonly #allowLinkLocal: boolean;

  constructor(opts: ForwarderOptions) {
    this.#timeoutMs = opts.timeoutMs;
    this.#allowLinkLocal = opts.allowLinkLocal ?? false;
    this.#agent = new Agent({
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 10_000,
      keepAliveMaxTimeout: 60_000,
      connections: opts.connectionsPerOrigin ?? null,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connect: {
        timeout: Math.min(opts.connectTimeoutMs ?? 10_000, opts.timeoutMs),
        ...(this.#allowLinkLocal ? {} : { lookup: guardedLookup }),
      },
    });
  }

  /** Per-origin socket statistics (used by tests to prove no socket leaks). */
  get stats(): Agent["stats"] {
    return this.#agent.stats;
  }

  forward(request: ForwardRequest): Promise<ForwardResult> {
    const started = performance.now();
    const { res } = request;
    return new Promise<ForwardResult>((resolve) => {
      let controller: Dispatcher.DispatchController | undefined;
      let headersSent = false;
      let responseBytes = 0;
      let status = 0;
      let settled = false;
      let clientClosed = false;

      let waitingForDrain = false;
      // With beforeEnd (durable usage) the agent must not hold the whole answer before it resolves. A chunked answer
      // is whole only at its terminator, which res.end() sends; a Content-Length one at its last byte, so there the
      // last chunk received is held back (its predecessor goes out when a new one arrives); a bodyless answer's head
      // leaves with the end.
      let holdLast = false;
      let held: Buffer | undefined;
      const finish = (outcome: ForwardResult) => {
        if (settled) return;
        settled = true;
        res.off("close", onClientClose);
        if (waitingForDrain) res.off("drain", onDrain);
        resolve(outcome);
      };
      const onDrain = () => {
        waitingForDrain = false;
        controller?.resume();
      };
      const onClientClose = () => {
        if (settled) return;
        clientClosed = true;
        controller?.abort(new Error("client closed the connection"));
        if (!controller) {
          finish(failed("client_closed", new Error("client closed"), performance.now() - started));
        }
      };
      res.on("close", onClientClose);

      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(ctrl) {
          controller = ctrl;
          if (clientClosed) ctrl.abort(new Error("client closed the connection"));
        },
        onResponseStart(_ctrl, statusCode, upstreamHeaders, statusMessage) {
          if (statusCode < 200) return; // informational responses are not relayed
          status = statusCode;
          const headers = filterResponseHeaders(upstreamHeaders);
          for (const [name, value] of request.responseHeaders) {
            if (name === "x-request-id" && headers[name] !== undefined) continue;
            headers[name] = value;
          }
          res.writeHead(statusCode, statusMessage || undefined, headers);
          headersSent = true;
          // HEAD / 204 / 304 carry no body; flush the head now.
          const bodyless = request.method === "HEAD" || statusCode === 204 || statusCode === 304;
          if (bodyless && !request.beforeEnd) res.flushHeaders();
          holdLast = request.beforeEnd !== undefined && headers["content-length"] !== undefined;
        },
        onResponseData(ctrl, chunk) {
          responseBytes += chunk.length;
          let out: Buffer | undefined = chunk;
          if (holdLast) [out, held] = [held, chunk];
          if (out && !res.write(out)) {
            ctrl.pause();
            // Listen for drain only while paused (most responses never fill the socket).
            if (!waitingForDrain) {
              waitingForDrain = true;
              res.once("drain", onDrain);
            }
          }
        },
        onResponseEnd() {
          const durationMs = performance.now() - started;
          const done = () => {
            if (held) res.end(held);
            else res.end();
            finish(ok({ status, responseBytes, complete: true, durationMs }));
          };
          if (!request.beforeEnd) return done();
          request.beforeEnd(status, responseBytes, durationMs).then(done, (error: Error) => {
            res.destroy(error);
            finish(ok({ status, responseBytes, complete: false, durationMs }));
          });
        },
        onResponseError(_ctrl, error) {
          const durationMs = performance.now() - started;
          if (headersSent) {
            // The status line is gone: the only honest signal left is a broken response.
            res.destroy(error);
            finish(ok({ status, responseBytes, complete: false, durationMs }));
            return;
          }
          finish(failed(classify(error, clientClosed), error, durationMs));
        },
      };

      const literal = this.#allowLinkLocal
        ? undefined
        : forbiddenLiteral(new URL(request.target.origin).hostname);
      if (literal) {
        finish(failed("forbidden_address", literal, 0));
        return;
      }
      try {
        this.#agent.dispatch(
          {
            origin: request.target.origin,
            path: request.target.path,
            method: request.method as Dispatcher.HttpMethod,
            headers: request.headers,
            body: request.body,
            headersTimeout: this.#timeoutMs,
            bodyTimeout: this.#timeoutMs,
          },
          handler,
        );
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        finish(failed("unreachable", error, performance.now() - started));
      }
    });
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  async destroy(): Promise<void> {
    await this.#agent.destroy();
  }
}
