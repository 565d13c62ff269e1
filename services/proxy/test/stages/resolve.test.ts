import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createAuthzTokenCodec } from "@sigilum-gw/shared/authz-token";
import { settle } from "@sigilum-gw/testkit/stage";
import { Redis } from "ioredis";
import { buildNewConnection } from "../../src/model/connection/create.ts";
import { createEnvoyAuthorizer } from "../../src/pipeline/authorize.ts";
import type { Authorized, ProxyContext } from "../../src/pipeline/exchange.ts";
import { ConnectionResolver, resolve } from "../../src/pipeline/resolve.ts";
import { ConnectionCache } from "../../src/store/cache.ts";
import { ConnectionStore } from "../../src/store/connections.ts";
import { createSecretBox } from "../../src/store/crypto.ts";
import { RedisEventPublisher } from "../../src/store/events.ts";
import { createProxyKeys } from "../../src/store/keys.ts";
import { VariableStore } from "../../src/store/variables.ts";
import { deletePrefix, REDIS_URL, randomPrefix } from "../helpers.ts";
import { gatewayRequest } from "./stage-request.ts";

describe("proxy resolve stage (real Redis)", () => {
  const prefix = randomPrefix();
  const keys = createProxyKeys(prefix);
  const agent = {
    namespace: "acme",
    subject: "a",
    keyId: "k",
    publicKey: "ed25519:x",
    agentId: undefined,
    requestId: undefined,
  };
  let redis: Redis;
  let connections: ConnectionStore;
  let ctx: ProxyContext;

  before(async () => {
    redis = new Redis(REDIS_URL);
    const box = createSecretBox({ masterKey: "resolve-stage-master-key" });
    const events = new RedisEventPublisher(redis, keys.events);
    connections = new ConnectionStore({ redis, keys, box, events });
    const variables = new VariableStore({ redis, keys, box, events });
    const cache = new ConnectionCache({ connections, variables, ttlMs: 30_000, now: Date.now });
    cache.setLive(true);
    ctx = {
      authorizer: createEnvoyAuthorizer(createAuthzTokenCodec("resolve-stage-secret-0123456789abcdef")),
      resolver: new ConnectionResolver(cache, { rotationEnforcement: "off", rotationGraceDays: 0 }),
      maxBodyBytes: 1024,
    };
    for (const [id, extra] of [
      ["stage-api", {}],
      ["stage-gitlab", { allow_encoded_slashes: true }],
    ] as const) {
      const c = buildNewConnection(
        {
          id,
          base_url: "https://api.example.com",
          auth_secret_key: "k",
          secrets: { k: "Bearer tok" },
          ...extra,
        },
        Date.now(),
      );
      await connections.create(c.record, c.secrets);
    }
  });
  after(async () => {
    await deletePrefix(prefix);
    redis.disconnect();
  });

  const authorized = (target: string, encodedSeparator = false): Authorized => ({
    request: gatewayRequest(target, { encodedSeparator }),
    body: null,
    identity: agent,
  });

  test("the connection and its credential; once loaded, synchronously", async () => {
    const first = await settle(resolve(authorized("/proxy/stage-api/v1"), ctx));
    assert.equal(first.sync, false);
    assert.ok(first.result.ok);
    assert.equal(first.result.value.connection.record.id, "stage-api");
    assert.equal(first.result.value.connection.credential, "tok");
    assert.equal(first.result.value.identity, agent);
    const second = await settle(resolve(authorized("/proxy/stage-api/v1"), ctx));
    assert.equal(second.sync, true);
    assert.ok(second.result.ok);
  });

  test("an unknown connection: 404 CONNECTION_NOT_FOUND, the agent still named for its usage event", async () => {
    const { result } = await settle(resolve(authorized("/proxy/stage-missing/v1"), ctx));
    assert.ok(!result.ok);
    assert.equal(result.denial.code, "CONNECTION_NOT_FOUND");
    assert.equal(result.denial.status, 404);
    assert.equal(result.denial.stage, "resolve");
    assert.equal(result.denial.detail?.identity, agent);
  });

  test("an encoded slash only where the connection allows it", async () => {
    const refused = await settle(resolve(authorized("/proxy/stage-api/a%2Fb", true), ctx));
    assert.ok(!refused.result.ok);
    assert.equal(refused.result.denial.code, "PATH_TRAVERSAL");
    assert.equal(refused.result.denial.status, 400);
    assert.match(refused.result.denial.message ?? "", /encoded slashes are not allowed/);
    const allowed = await settle(resolve(authorized("/proxy/stage-gitlab/a%2Fb", true), ctx));
    assert.ok(allowed.result.ok);
  });

  test("an HTTP route to an MCP connection is refused", async () => {
    const c = buildNewConnection(
      {
        id: "stage-mcp",
        protocol: "mcp",
        base_url: "https://mcp.example.com",
        mcp_endpoint: "/mcp",
        auth_secret_key: "k",
        secrets: { k: "tok" },
      },
      Date.now(),
    );
    await connections.create(c.record, c.secrets);
    const { result } = await settle(resolve(authorized("/proxy/stage-mcp/x"), ctx));
    assert.ok(!result.ok);
    assert.equal(result.denial.code, "INVALID_REQUEST");
    assert.match(result.denial.message ?? "", /use \/mcp\/\{connection_id\}/);
  });
});
