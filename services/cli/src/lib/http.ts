import { CliError } from "../errors.ts";

/** A JSON API answer that was not 2xx, with the `{error, code}` envelope fields when the body had them. */
export class ApiCallError extends Error {
  override name = "ApiCallError";
  readonly status: number;
  readonly code: string | undefined;
  readonly body: unknown;
  constructor(what: string, status: number, body: unknown) {
    const envelope = (typeof body === "object" && body !== null ? body : {}) as {
      error?: unknown;
      code?: unknown;
    };
    const detail = typeof envelope.error === "string" ? envelope.error : `HTTP ${status}`;
    super(`${what} failed: ${detail}${typeof envelope.code === "string" ? ` (${envelope.code})` : ""}`);
    this.status = status;
    this.code = typeof envelope.code === "string" ? envelope.code : undefined;
    this.body = body;
  }
}

export interface JsonRequest {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Statuses that count as success (default: any 2xx). */
  accept?: number[];
}

export interface JsonResponse {
  status: number;
  body: unknown;
}

/** The transport error's most useful name (ECONNREFUSED, timeout, ...). */
export function transportReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  if ((error as Error).name === "TimeoutError") return "timed out";
  return cause?.message ?? (error as Error).message;
}

export interface JsonClientOptions {
  baseUrl: string;
  /** "the control plane", "the gateway admin API": used in messages. */
  what: string;
  /** What to do when the service cannot be reached. */
  unreachableHint: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** A small JSON client: one timeout, no retries, every failure a CliError or ApiCallError with a clear message. */
export class JsonClient {
  readonly baseUrl: string;
  readonly options: JsonClientOptions;

  constructor(options: JsonClientOptions) {
    this.options = options;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
  }

  async send(request: JsonRequest): Promise<JsonResponse> {
    const url = `${this.baseUrl}${request.path}`;
    const headers: Record<string, string> = {
      accept: "application/json",
      ...this.options.headers,
      ...request.headers,
    };
    let payload: string | undefined;
    if (request.body !== undefined) {
      payload = JSON.stringify(request.body);
      headers["content-type"] = "application/json";
    }
    let response: Response;
    try {
      response = await fetch(url, {
        method: request.method,
        headers,
        body: payload,
        redirect: "manual",
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000),
      });
    } catch (error) {
      throw new CliError(`Cannot reach ${this.options.what} at ${this.baseUrl} (${transportReason(error)})`, {
        hint: this.options.unreachableHint,
      });
    }
    const text = await response.text();
    let body: unknown = text;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: keep the text for the error message.
      }
    } else {
      body = undefined;
    }
    return { status: response.status, body };
  }

  /** Sends and returns the body of a successful answer; anything else throws ApiCallError. */
  async call<T = unknown>(request: JsonRequest, what: string): Promise<T> {
    const response = await this.send(request);
    const ok = request.accept
      ? request.accept.includes(response.status)
      : response.status >= 200 && response.status < 300;
    if (!ok) throw new ApiCallError(what, response.status, response.body);
    return response.body as T;
  }
}
