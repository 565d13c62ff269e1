import type { IncomingMessage, ServerResponse } from "node:http";
import { GatewayError } from "@sigilum-gw/shared/errors";
import { readBody } from "@sigilum-gw/shared/http-body";
import type { z } from "zod";

/** JSON in and out for admin handlers, with the reference's body errors (spec §1.3). */

export async function readJson<S extends z.ZodType>(
  req: IncomingMessage,
  schema: S,
  limit: number,
  opts: { optional?: boolean; unseal?: (json: unknown) => Promise<unknown> } = {},
): Promise<z.output<S> | undefined> {
  const read = await readBody(req, limit);
  if (!read.ok) {
    const { denial } = read;
    throw new GatewayError(
      denial.code,
      denial.message,
      denial.headers ? { headers: { ...denial.headers } } : {},
    );
  }
  const body = read.value;
  const text = body?.toString("utf8") ?? "";
  if (text.trim() === "") {
    if (opts.optional) return undefined;
    throw new GatewayError("INVALID_REQUEST", "request body is required");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new GatewayError("INVALID_REQUEST", `invalid JSON body: ${(err as Error).message}`);
  }
  if (opts.unseal) json = await opts.unseal(json);
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
    throw new GatewayError(
      "INVALID_REQUEST",
      `invalid JSON body: ${where}${issue?.message ?? "invalid value"}`,
    );
  }
  return parsed.data;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, requestId: string): void {
  sendJsonText(res, status, jsonText(body), requestId);
}

export function jsonText(body: unknown): string {
  return `${JSON.stringify(body)}\n`;
}

/** sendJson for a body already serialized (with jsonText). */
export function sendJsonText(res: ServerResponse, status: number, text: string, requestId: string): void {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("cache-control", "no-store");
  res.setHeader("x-request-id", requestId);
  res.setHeader("content-length", Buffer.byteLength(text));
  res.end(text);
}
