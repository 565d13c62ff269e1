import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { SigilumIdentity } from "@sigilum-gw/shared/identity";
import { createConnection, sign, startGateway } from "./support/agent.ts";
import { send, sendSigned } from "./support/http.ts";
import { refusedUnforwarded } from "./support/refused.ts";
import type { Stack } from "./support/stack.ts";

/**
 * Finding 5 (hardening): agent-set forwarding and rewrite headers never reach the upstream; `..;` and encoded
 * slashes are refused unless the connection opts in; the signed authority is pinned to the gateway's names;
 * and a connection cannot be pointed at a link-local / cloud metadata address (SSRF): the admin API refuses it
 * when the connection is created or changed, and forwarding refuses it for records stored where the operator
 * allowed it (replica 1 runs with GATEWAY_ALLOW_LINK_LOCAL_UPSTREAMS=true; replica 0, which forwards, without).
 */

describe("hardening", () => {
  let stack: Stack;
  let gw: string;
  let agent: SigilumIdentity;

  let allowing: string;

  before(async () => {
    ({ stack, gw, agent } = await startGateway(["hard", "gitlab", "metadata"], {
      replicas: 2,
      replicaEnv: (i): Record<string, string> =>
        i === 1 ? { GATEWAY_ALLOW_LINK_LOCAL_UPSTREAMS: "true" } : {},
    }));
    allowing = stack.replicas[1]!.url;
    await createConnection(gw, "hard", stack.upstream.url, "hard-key");
    await createConnection(gw, "gitlab", stack.upstream.url, "gitlab-key", { allow_encoded_slashes: true });
    await createConnection(allowing, "metadata", "http://169.254.169.254/latest", "metadata-key");
  });
  after(() => stack?.stop());

  const refused = (path: string, status: number, code: string, signFor = gw) =>
    refusedUnforwarded(
      stack,
      () => sendSigned(gw, sign(agent, signFor, path), { headers: [["host", new URL(signFor).host]] }),
      status,
      code,
      path,
    );
  const refusedAll = async (paths: string[], status: number, code: string) => {
    for (const path of paths) await refused(path, status, code);
  };

  test("Forwarded, X-Real-IP, X-Forwarded-Host/Proto, X-Original-URL, X-Rewrite-URL are stripped", async () => {
    const spoofed: [string, string][] = [
      ["forwarded", "for=127.0.0.1;host=admin.internal;proto=https"],
      ["x-real-ip", "127.0.0.1"],
      ["x-forwarded-host", "admin.internal"],
      ["x-forwarded-proto", "https"],
      ["x-original-url", "/admin/delete-everything"],
      ["x-rewrite-url", "/admin/delete-everything"],
    ];
    const reply = await sendSigned(gw, sign(agent, gw, "/proxy/hard/profile"), { headers: spoofed });
    assert.equal(reply.status, 200, reply.text);
    const seen = stack.upstream.requests.at(-1)!;
    for (const [name] of spoofed) assert.equal(seen.headers[name], undefined, `${name} reached the upstream`);
    assert.equal(seen.headers["x-forwarded-for"], "127.0.0.1");
  });

  test("`..;` (Tomcat-style traversal), raw or encoded → 400 PATH_TRAVERSAL", async () => {
    await refusedAll(
      ["/proxy/hard/..;/admin", "/proxy/hard/a/..;x/admin", "/proxy/hard/%2E%2E;/admin", "/proxy/hard/.;/x"],
      400,
      "PATH_TRAVERSAL",
    );
  });

  test("encoded slashes and backslashes → 400 PATH_TRAVERSAL unless the connection opts in", async () => {
    await refusedAll(
      ["/proxy/hard/a%2Fb", "/proxy/hard/a%2fb/c", "/proxy/hard/a%5Cb", "/proxy/hard/%2F%2Fevil"],
      400,
      "PATH_TRAVERSAL",
    );
    const reply = await sendSigned(gw, sign(agent, gw, "/proxy/gitlab/projects/group%2Fproject/issues"));
    assert.equal(reply.status, 200, reply.text);
    assert.equal(stack.upstream.requests.at(-1)?.url, "/projects/group%2Fproject/issues");
    await refused("/proxy/gitlab/projects/group%2F..%2Fadmin", 400, "PATH_TRAVERSAL");
  });

  test("a request signed for another host, sent with that Host → 403 AUTH_HOST_NOT_ALLOWED", async () => {
    const port = new URL(gw).port;
    await refused("/proxy/hard/profile", 403, "AUTH_HOST_NOT_ALLOWED", `http://evil.example:${port}`);
    await refused("/proxy/hard/profile", 403, "AUTH_HOST_NOT_ALLOWED", "http://api.other-service.example");
    const local = sign(agent, `http://localhost:${port}`, "/proxy/hard/profile");
    const reply = await sendSigned(gw, local, { headers: [["host", `localhost:${port}`]] });
    assert.equal(reply.status, 200, reply.text);
  });

  test("SSRF: a connection to 169.254.169.254 → 403 UPSTREAM_ADDRESS_FORBIDDEN, fast (HTTP and WebSocket)", async () => {
    const started = Date.now();
    const reply = await sendSigned(
      gw,
      sign(agent, gw, "/proxy/metadata/meta-data/iam/security-credentials/"),
    );
    assert.equal(reply.status, 403, reply.text);
    assert.equal(reply.code, "UPSTREAM_ADDRESS_FORBIDDEN");
    assert.ok(Date.now() - started < 2000, "the gateway tried to connect");
    const upgrade = await sendSigned(gw, sign(agent, gw, "/proxy/metadata/ws"), {
      headers: [
        ["connection", "Upgrade"],
        ["upgrade", "websocket"],
        ["sec-websocket-version", "13"],
        ["sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="],
      ],
    });
    assert.equal(upgrade.status, 403, upgrade.text);
    assert.equal(upgrade.code, "UPSTREAM_ADDRESS_FORBIDDEN");
  });

  test("SSRF at the admin API: a link-local or metadata base URL or MCP endpoint → 403 UPSTREAM_ADDRESS_FORBIDDEN at create and update, nothing stored", async () => {
    const admin = (base: string, method: string, path: string, body?: unknown) =>
      send(base, `/api/admin/connections${path}`, {
        method,
        headers: { "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const forbidden = [
      "http://169.254.169.254/latest",
      "http://0xa9fea9fe", // the same address in hex
      "http://[::ffff:169.254.169.254]", // IPv4-mapped
      "http://[fe80::1]:8080",
      "http://100.100.100.200", // Alibaba Cloud metadata
      "http://[fd00:ec2::254]", // AWS metadata over IPv6
    ];
    for (const [i, base_url] of forbidden.entries()) {
      const reply = await admin(gw, "POST", "", {
        id: `ssrf-${i}`,
        base_url,
        auth_secret_key: "k",
        secrets: { k: "ssrf-key" },
      });
      assert.equal(reply.status, 403, `${base_url}: ${reply.text}`);
      assert.equal(reply.code, "UPSTREAM_ADDRESS_FORBIDDEN", base_url);
      assert.equal((await admin(gw, "GET", `/ssrf-${i}`)).status, 404, `${base_url} was stored`);
    }

    // An MCP server given as a full URL is where the gateway connects: same rule, at create and at update.
    const quiet = "http://127.0.0.1:1"; // nothing listens: discovery after create reaches no upstream
    const mcp = { protocol: "mcp", base_url: quiet };
    const created = await admin(gw, "POST", "", {
      ...mcp,
      id: "ssrf-mcp",
      mcp_endpoint: "http://169.254.169.254/mcp",
    });
    assert.equal(created.status, 403, created.text);
    assert.equal(created.code, "UPSTREAM_ADDRESS_FORBIDDEN");
    assert.equal((await admin(gw, "GET", "/ssrf-mcp")).status, 404);
    assert.equal((await admin(gw, "POST", "", { ...mcp, id: "ssrf-mcp", mcp_endpoint: "/mcp" })).status, 201);
    const moved = await admin(gw, "PATCH", "/ssrf-mcp", { mcp_endpoint: "http://[fe80::a9fe]/mcp" });
    assert.equal(moved.status, 403, moved.text);
    assert.equal(moved.code, "UPSTREAM_ADDRESS_FORBIDDEN");
    assert.equal(JSON.parse((await admin(gw, "GET", "/ssrf-mcp")).text).mcp_endpoint, "/mcp");
    assert.equal((await admin(gw, "PATCH", "/ssrf-mcp", { mcp_endpoint: `${quiet}/v2/mcp` })).status, 200);

    // Allowed where the operator said so (GATEWAY_ALLOW_LINK_LOCAL_UPSTREAMS=true): the same create succeeds.
    const allowed = await admin(allowing, "POST", "", {
      id: "ssrf-allowed",
      base_url: forbidden[0],
      auth_secret_key: "k",
      secrets: { k: "ssrf-key" },
    });
    assert.equal(allowed.status, 201, allowed.text);
    assert.equal(
      stack.upstream.requests.filter((r) => r.headers.authorization === "Bearer ssrf-key").length,
      0,
    );
  });
});
