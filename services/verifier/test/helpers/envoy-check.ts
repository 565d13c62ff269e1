import { request } from "node:http";
import { loadEnvoyExtAuthz, matches } from "./envoy-config.ts";

/**
 * Sends an agent request to the verifier the way Envoy's ext_authz HTTP filter does (envoy/envoy.yaml): same
 * method, `path_prefix` + original path, the original Host, only the allowed headers, the buffered body with its
 * length and `x-envoy-auth-partial-body`, plus the x-forwarded-* headers Envoy sets as the edge proxy.
 */

export interface AgentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: Uint8Array | null;
}

export interface CheckResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const envoy = loadEnvoyExtAuthz();

export function envoyHeaders(agent: AgentRequest, extra: Record<string, string> = {}): [string, string][] {
  const url = new URL(agent.url);
  const out: [string, string][] = [["host", url.host]];
  for (const [name, value] of Object.entries(agent.headers)) {
    if (matches(envoy.allowedHeaders, name)) out.push([name.toLowerCase(), value]);
  }
  out.push(["x-forwarded-proto", url.protocol.slice(0, -1)]);
  out.push(["x-forwarded-for", "203.0.113.7"]);
  out.push(["x-envoy-auth-partial-body", "false"]);
  for (const [name, value] of Object.entries(extra)) {
    const existing = out.findIndex(([n]) => n === name);
    if (existing === -1) out.push([name, value]);
    else out[existing] = [name, value];
  }
  return out;
}

export function rawCheck(
  port: number,
  method: string,
  path: string,
  headers: [string, string][],
  body?: Uint8Array | null,
): Promise<CheckResponse> {
  const flat: string[] = [];
  const withLength = headers.some(([n]) => n.toLowerCase() === "content-length")
    ? headers
    : [...headers, ["content-length", String(body?.length ?? 0)] as [string, string]];
  for (const [name, value] of withLength) flat.push(name, value);
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers: flat, setHost: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body?.length ? Buffer.from(body) : undefined);
  });
}

export function envoyCheck(
  port: number,
  agent: AgentRequest,
  extra: Record<string, string> = {},
): Promise<CheckResponse> {
  const url = new URL(agent.url);
  return rawCheck(
    port,
    agent.method,
    `${envoy.pathPrefix}${url.pathname}${url.search}`,
    envoyHeaders(agent, extra),
    agent.body,
  );
}

export function envelopeCode(response: CheckResponse): string | undefined {
  try {
    return (JSON.parse(response.body) as { code?: string }).code;
  } catch {
    return undefined;
  }
}
