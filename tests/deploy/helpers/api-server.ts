import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Manifest } from "./chart.ts";
import { validateManifest } from "./kube-schemas.ts";

/**
 * The part of the Kubernetes API the bootstrap Job uses, on loopback over TLS: `POST /api/v1/namespaces/<ns>/secrets`
 * with a ServiceAccount bearer token, answered as kube-apiserver answers it (201 Created; 409 AlreadyExists for a
 * name that exists, which is left as it is; 401 for another token; 422 Invalid for an object the Kubernetes schema
 * refuses; Status objects as bodies). No cluster runs here, so this stands in for the API server's contract; the
 * objects it stores are validated with the same kubernetes-models schemas as the chart.
 */

export interface ApiServer {
  host: string;
  port: number;
  /** The CA (here: the self-signed certificate) a ServiceAccount's ca.crt holds. */
  ca: string;
  token: string;
  /** Stored Secrets by `<namespace>/<name>`. */
  secrets: Map<string, Manifest>;
  requests: { method: string; path: string }[];
  close(): Promise<void>;
}

const run = promisify(execFile);

/** A throwaway self-signed certificate for 127.0.0.1 (openssl, as a cluster CA would sign the API server's). */
export async function selfSigned(): Promise<{ key: string; cert: string }> {
  const dir = await mkdtemp(join(tmpdir(), "api-server-tls-"));
  try {
    const [key, cert] = [join(dir, "key.pem"), join(dir, "cert.pem")];
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=kubernetes",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ]);
    return { key: await readFile(key, "utf8"), cert: await readFile(cert, "utf8") };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function status(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message, reason, code });
}

export async function startApiServer(token: string): Promise<ApiServer> {
  const tls = await selfSigned();
  const secrets = new Map<string, Manifest>();
  const requests: ApiServer["requests"] = [];
  const server: Server = createServer(tls, (req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", async () => {
      requests.push({ method: req.method ?? "", path: req.url ?? "" });
      const answer = (code: number, text: string) => {
        res.writeHead(code, { "content-type": "application/json" });
        res.end(text);
      };
      if (req.headers.authorization !== `Bearer ${token}`) {
        return answer(401, status(401, "Unauthorized", "Unauthorized"));
      }
      const match = /^\/api\/v1\/namespaces\/([a-z0-9-]+)\/secrets$/.exec(req.url ?? "");
      if (req.method !== "POST" || !match) return answer(404, status(404, "NotFound", "not found"));
      let secret: Manifest;
      try {
        secret = JSON.parse(body) as Manifest;
        await validateManifest(secret);
      } catch (err) {
        return answer(422, status(422, "Invalid", (err as Error).message));
      }
      const key = `${match[1]}/${secret.metadata.name}`;
      if (secrets.has(key)) {
        return answer(409, status(409, "AlreadyExists", `secrets "${secret.metadata.name}" already exists`));
      }
      secrets.set(key, secret);
      answer(201, JSON.stringify(secret));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    host: "127.0.0.1",
    port: (server.address() as AddressInfo).port,
    ca: tls.cert,
    token,
    secrets,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
