import type { IncomingHttpHeaders } from "node:http";
import { type Dispatcher, Pool } from "undici";

/**
 * An HTTP client for calls whose answer is small (status, headers, a bounded body), on undici's dispatcher API: the
 * answer is collected directly, without the per-request stream objects of `request()`. It makes the inline ext_authz
 * call to the verifier (on every inline-mode request) and the usage worker's event posts (one per forwarded request).
 */

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export class AnswerClient {
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

  /** Rejects when the origin cannot be reached, times out, or answers more than maxBodyBytes. */
  send(request: {
    path: string;
    method: string;
    headers: string[];
    body: Uint8Array | null;
  }): Promise<Answer> {
    const limit = this.#maxBodyBytes;
    return new Promise<Answer>((resolve, reject) => {
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
            ctrl.abort(new Error(`answer larger than ${limit} bytes`));
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
