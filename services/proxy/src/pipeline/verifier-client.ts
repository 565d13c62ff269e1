import type { IncomingHttpHeaders } from "node:http";
import { type Dispatcher, Pool } from "undici";

/**
 * The ext_authz HTTP call to the verifier, on undici's dispatcher API: the answer (status, headers, a small body)
 * is collected directly, without the per-request stream objects of `Pool.request`, since this call sits on the
 * hot path of every inline-mode request.
 */

export interface CheckAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export class VerifierClient {
  readonly #pool: Pool;
  readonly #maxBodyBytes: number;

  constructor(origin: string, opts: { timeoutMs: number; connections?: number; maxBodyBytes: number }) {
    this.#maxBodyBytes = opts.maxBodyBytes;
    this.#pool = new Pool(origin, {
      connections: opts.connections ?? 64,
      keepAliveTimeout: 10_000,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connect: { timeout: opts.timeoutMs },
    });
  }

  /** Rejects when the verifier cannot be reached, times out, or sends more than maxBodyBytes. */
  check(request: {
    path: string;
    method: string;
    headers: string[];
    body: Buffer | null;
  }): Promise<CheckAnswer> {
    const limit = this.#maxBodyBytes;
    return new Promise<CheckAnswer>((resolve, reject) => {
      let status = 0;
      let headers: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      let size = 0;
      const handler: Dispatcher.DispatchHandler = {
        // undici calls it unconditionally.
        onRequestStart() {},
        onResponseStart(_ctrl, statusCode, responseHeaders) {
          if (statusCode < 200) return;
          status = statusCode;
          headers = responseHeaders;
        },
        onResponseData(ctrl, chunk) {
          size += chunk.length;
          if (size > limit) {
            ctrl.abort(new Error("verifier answer too large"));
            return;
          }
          chunks.push(chunk);
        },
        onResponseEnd() {
          resolve({ status, headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) });
        },
        onResponseError(_ctrl, error) {
          reject(error);
        },
      };
      try {
        this.#pool.dispatch(
          {
            path: request.path,
            method: request.method as Dispatcher.HttpMethod,
            headers: request.headers,
            body: request.body,
          },
          handler,
        );
      } catch (err) {
        reject(err);
      }
    });
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}
