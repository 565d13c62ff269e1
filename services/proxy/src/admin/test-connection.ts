import { request } from "undici";
import { z } from "zod";
import type { ConnectionRecord, SecretMap } from "../model/connection/types.ts";
import { buildUpstreamHeaders, buildUpstreamTarget } from "../pipeline/inject.ts";
import { credentialOf } from "../pipeline/resolve.ts";
import { INVALID_PROXY_PATH, routeOf } from "../pipeline/route.ts";

/**
 * Connection test (spec §5.9): one request to the provider with the connection's credential injected, 15 s
 * deadline, redirects NOT followed (a 3xx already counts as pass, and following one could carry the credential
 * to another host). query_param credentials are applied too (the reference skips them, which makes the test
 * fail for query_param providers). Any secret echoed back in the provider's error body is redacted.
 */

export const testConnectionInput = z.object({
  method: z.string().nullish(),
  test_path: z.string().nullish(),
  headers: z.record(z.string(), z.string()).nullish(),
  body: z.string().nullish(),
});
export type TestConnectionInput = z.infer<typeof testConnectionInput>;

export interface TestResult {
  status: "pass" | "fail";
  http_status: number;
  error?: string;
}

const TEST_TIMEOUT_MS = 15_000;
const PREVIEW_BYTES = 1024;
const MAX_ERROR = 240;

export function truncateError(message: string): string {
  return message.length > MAX_ERROR ? `${message.slice(0, MAX_ERROR)}...` : message;
}

/** Replaces every secret value (and the injected credential) found in `text`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length >= 4) out = out.split(secret).join("[redacted]");
  }
  return out;
}

export async function testHttpConnection(
  record: ConnectionRecord,
  secrets: SecretMap,
  input: TestConnectionInput | undefined,
  signal: AbortSignal,
): Promise<TestResult> {
  const secretValues = Object.values(secrets);
  const testPath = (input?.test_path ?? "").trim() || "/";
  const routed = routeOf(`/proxy/test-connection${testPath.startsWith("/") ? "" : "/"}${testPath}`);
  if (!routed.ok || routed.value?.kind !== "proxy") {
    const reason = routed.ok ? INVALID_PROXY_PATH : (routed.denial.message ?? routed.denial.code);
    return { status: "fail", http_status: 0, error: truncateError(`invalid test_path: ${reason}`) };
  }
  const route = routed.value;
  const credential = credentialOf(record, secrets);
  const target = buildUpstreamTarget(record, route, credential);
  const body = (input?.body ?? "").trim();
  const given: string[] = [];
  for (const [name, value] of Object.entries(input?.headers ?? {})) given.push(name, value);
  if (body !== "" && !given.some((_, i) => i % 2 === 0 && given[i]!.toLowerCase() === "content-type")) {
    given.push("content-type", "application/json");
  }
  const headers = buildUpstreamHeaders(given, {
    record,
    credential,
    requestId: "connection-test",
    peerIp: "127.0.0.1",
    host: target.host,
    bodyLength: body === "" ? undefined : Buffer.byteLength(body),
  });
  // A test is not a forwarded request: no x-forwarded-for.
  const filtered: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() !== "x-forwarded-for") filtered.push(headers[i]!, headers[i + 1]!);
  }
  try {
    const response = await request(`${target.origin}${target.path}`, {
      method: ((input?.method ?? "").trim().toUpperCase() || "GET") as "GET",
      headers: filtered,
      body: body === "" ? null : body,
      signal: AbortSignal.any([signal, AbortSignal.timeout(TEST_TIMEOUT_MS)]),
      headersTimeout: TEST_TIMEOUT_MS,
      bodyTimeout: TEST_TIMEOUT_MS,
    });
    const status = response.statusCode;
    if (status >= 200 && status < 400) {
      await response.body.dump();
      return { status: "pass", http_status: status };
    }
    const preview = await readPreview(response.body);
    const text = redactSecrets(preview, [...secretValues, credential])
      .replace(/\s+/g, " ")
      .trim();
    return {
      status: "fail",
      http_status: status,
      error: text === "" ? `http ${status}` : `http ${status}: ${truncateError(text)}`,
    };
  } catch (err) {
    const message = redactSecrets((err as Error).message || "request failed", [...secretValues, credential]);
    return { status: "fail", http_status: 0, error: truncateError(`upstream request failed: ${message}`) };
  }
}

async function readPreview(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= PREVIEW_BYTES) break;
    }
  } catch {
    // a broken body still gives a status-only error
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, PREVIEW_BYTES).toString("utf8");
}
