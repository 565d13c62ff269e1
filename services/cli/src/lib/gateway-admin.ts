import { z } from "zod";
import type { CliContext } from "../context.ts";
import { CliError } from "../errors.ts";
import { adminToken, type Endpoints } from "./endpoints.ts";
import { ApiCallError, JsonClient } from "./http.ts";

/** The proxy's admin API (spec/gateway.md §1.3, §5): connections, never their secrets. */

export const connectionSchema = z
  .object({
    id: z.string(),
    name: z.string().optional(),
    protocol: z.string().optional(),
    base_url: z.string().optional(),
    auth_mode: z.string().optional(),
    auth_header_name: z.string().optional(),
    auth_prefix: z.string().optional(),
    auth_secret_key: z.string().optional(),
    credential_keys: z.array(z.string()).optional(),
    status: z.string().optional(),
    secret_version: z.number().optional(),
  })
  .loose();

export type Connection = z.infer<typeof connectionSchema>;

const testResultSchema = z
  .object({ status: z.enum(["pass", "fail"]), http_status: z.number(), error: z.string().optional() })
  .loose();
export type TestResult = z.infer<typeof testResultSchema>;

export interface CreateConnection {
  id: string;
  name: string;
  base_url: string;
  auth_mode: "bearer" | "header_key" | "query_param";
  auth_header_name: string;
  auth_prefix: string;
  auth_secret_key: string;
  secrets: Record<string, string>;
}

export class GatewayAdmin {
  readonly client: JsonClient;

  constructor(client: JsonClient) {
    this.client = client;
  }

  static async open(ctx: CliContext, endpoints: Endpoints): Promise<GatewayAdmin> {
    const token = await adminToken(ctx, endpoints.layout);
    return new GatewayAdmin(
      new JsonClient({
        baseUrl: endpoints.adminUrl,
        what: "the gateway admin API",
        unreachableHint:
          "Start the local stack with `sigilum up`, or pass --gateway-admin-url / set GATEWAY_ADMIN_URL.",
        headers: token ? { "x-sigilum-admin-token": token } : {},
      }),
    );
  }

  async get(id: string): Promise<Connection | undefined> {
    const response = await this.client.send({
      method: "GET",
      path: `/api/admin/connections/${encodeURIComponent(id)}`,
    });
    if (response.status === 404) return undefined;
    if (response.status !== 200)
      throw this.#failure("Reading the gateway connection", response.status, response.body);
    return parseConnection(response.body);
  }

  async list(): Promise<Connection[]> {
    const body = await this.#call(
      { method: "GET", path: "/api/admin/connections" },
      "Listing gateway connections",
    );
    const parsed = z.object({ connections: z.array(connectionSchema) }).safeParse(body);
    if (!parsed.success) throw new CliError("The gateway admin API answered an unexpected connection list");
    return parsed.data.connections;
  }

  async create(input: CreateConnection): Promise<Connection> {
    return parseConnection(
      await this.#call(
        { method: "POST", path: "/api/admin/connections", body: input, accept: [201] },
        "Creating the gateway connection",
      ),
    );
  }

  async remove(id: string): Promise<void> {
    await this.#call(
      { method: "DELETE", path: `/api/admin/connections/${encodeURIComponent(id)}`, accept: [200, 204, 404] },
      "Deleting the gateway connection",
    );
  }

  async rotate(id: string, secrets: Record<string, string>, reason: string): Promise<Connection> {
    return parseConnection(
      await this.#call(
        {
          method: "POST",
          path: `/api/admin/connections/${encodeURIComponent(id)}/rotate`,
          body: { secrets, rotated_by: "sigilum-cli", rotation_reason: reason },
          accept: [200],
        },
        "Updating the connection secret",
      ),
    );
  }

  async test(id: string): Promise<TestResult> {
    const response = await this.client.send({
      method: "POST",
      path: `/api/admin/connections/${encodeURIComponent(id)}/test`,
    });
    if (response.status === 404) throw new CliError(`No gateway connection "${id}"`);
    const parsed = testResultSchema.safeParse(response.body);
    if (!parsed.success)
      throw this.#failure("Testing the gateway connection", response.status, response.body);
    return parsed.data;
  }

  /** Whether the proxy answers its health check. */
  async healthy(): Promise<boolean> {
    try {
      return (await this.client.send({ method: "GET", path: "/health" })).status === 200;
    } catch {
      return false;
    }
  }

  async #call(request: Parameters<JsonClient["send"]>[0], what: string): Promise<unknown> {
    const response = await this.client.send(request);
    const ok = request.accept
      ? request.accept.includes(response.status)
      : response.status >= 200 && response.status < 300;
    if (!ok) throw this.#failure(what, response.status, response.body);
    return response.body;
  }

  #failure(what: string, status: number, body: unknown): CliError {
    const error = new ApiCallError(what, status, body);
    if (status === 401 || status === 403) {
      return new CliError(error.message, {
        hint: "The admin API refused this caller. Run the CLI on the gateway host, or set GATEWAY_ADMIN_TOKEN.",
      });
    }
    return new CliError(error.message);
  }
}

function parseConnection(body: unknown): Connection {
  const parsed = connectionSchema.safeParse(body);
  if (!parsed.success) throw new CliError("The gateway admin API answered an unexpected connection document");
  return parsed.data;
}
