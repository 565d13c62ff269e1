import type { IncomingMessage, ServerResponse } from "node:http";

/** CORS for health, metrics and admin routes (spec §7.2); never for the runtime routes. */

const ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS =
  "Content-Type, Authorization, X-Sigilum-Admin-Token, X-Request-Id, Signature-Input, Signature, Content-Digest, " +
  "Sigilum-Namespace, Sigilum-Subject, Sigilum-Agent-Id, Sigilum-Agent-Key, Sigilum-Agent-Cert";
const VARY = ["Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"];

export function applyCors(
  req: IncomingMessage,
  res: ServerResponse,
  allowedOrigins: ReadonlySet<string>,
): void {
  const origin = req.headers.origin;
  if (typeof origin !== "string" || origin === "") return;
  mergeVary(res);
  if (!allowedOrigins.has(origin)) return;
  res.setHeader("access-control-allow-origin", origin);
  res.setHeader("access-control-allow-credentials", "true");
  res.setHeader("access-control-allow-methods", ALLOW_METHODS);
  res.setHeader("access-control-allow-headers", ALLOW_HEADERS);
  res.setHeader("access-control-max-age", "86400");
}

function mergeVary(res: ServerResponse): void {
  const existing = res.getHeader("vary");
  const values = (Array.isArray(existing) ? existing.join(",") : String(existing ?? ""))
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");
  const seen = new Set(values.map((v) => v.toLowerCase()));
  for (const v of VARY) if (!seen.has(v.toLowerCase())) values.push(v);
  res.setHeader("vary", values.join(", "));
}
