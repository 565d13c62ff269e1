import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GatewayError } from "@sigilum-gw/shared/errors";
import fc from "fast-check";
import { DEFAULT_CATALOG } from "../src/catalog/defaults.ts";
import { normalizeCatalog } from "../src/catalog/schema.ts";
import { filterResponseHeaders } from "../src/http/response-headers.ts";
import { buildNewConnection } from "../src/model/connection/create.ts";
import { toConnectionJson } from "../src/model/connection/json.ts";
import { applyRotation } from "../src/model/connection/rotate.ts";
import type { ConnectionRecord } from "../src/model/connection/types.ts";
import { applyConnectionUpdate } from "../src/model/connection/update.ts";
import { formatTime, ZERO_TIME } from "../src/model/time.ts";
import { variableReference } from "../src/model/variable.ts";
import { buildUpstreamHeaders, buildUpstreamTarget, setQueryParam } from "../src/pipeline/inject.ts";
import { normalizeCredential, resolveSecrets, rotationOverdueMessage } from "../src/pipeline/resolve.ts";
import { joinUpstreamPath, type RuntimeRoute, routeOf } from "../src/pipeline/route.ts";

const NOW = Date.UTC(2026, 0, 2, 3, 4, 5, 600);

function expectError(fn: () => unknown, code: string, message: string | RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof GatewayError, `expected GatewayError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (typeof message === "string") assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

function httpConnection(overrides: Record<string, unknown> = {}): ConnectionRecord {
  return buildNewConnection(
    {
      id: "demo-conn",
      base_url: "https://api.example.com/v1/",
      auth_secret_key: "k",
      secrets: { k: "tok" },
      ...overrides,
    },
    NOW,
  ).record;
}

describe("connection create (spec §5.2)", () => {
  test("defaults: bearer, Authorization, 'Bearer ', base_url without trailing slash, version 1", () => {
    const { record, secrets } = buildNewConnection(
      {
        name: "My API!",
        base_url: " https://api.example.com/v1/ ",
        auth_secret_key: "token",
        secrets: { " token ": " abc " },
      },
      NOW,
    );
    assert.equal(record.id, "my-api");
    assert.equal(record.name, "My API!");
    assert.equal(record.base_url, "https://api.example.com/v1");
    assert.equal(record.auth_mode, "bearer");
    assert.equal(record.auth_header_name, "Authorization");
    assert.equal(record.auth_prefix, "Bearer ");
    assert.deepEqual(secrets, { token: "abc" });
    assert.deepEqual(record.credential_keys, ["token"]);
    assert.equal(record.secret_version, 1);
    assert.equal(record.status, "active");
    assert.equal(record.next_rotation_due_at, null);
  });

  test("query_param defaults to api_key and an empty prefix; rotation interval sets the due date", () => {
    const record = httpConnection({ auth_mode: "query_param", rotation_interval_days: 30 });
    assert.equal(record.auth_header_name, "api_key");
    assert.equal(record.auth_prefix, "");
    assert.equal(record.next_rotation_due_at, NOW + 30 * 86_400_000);
  });

  test("validation messages, in the reference's order", () => {
    expectError(
      () => buildNewConnection({ base_url: "https://x" }, NOW),
      "INVALID_REQUEST",
      "id or name is required",
    );
    expectError(() => buildNewConnection({ id: "abc" }, NOW), "INVALID_REQUEST", "base_url is required");
    expectError(
      () => buildNewConnection({ id: "abc", base_url: "https://x", protocol: "ftp" }, NOW),
      "INVALID_REQUEST",
      "invalid protocol: ftp",
    );
    expectError(
      () => buildNewConnection({ id: "abc", base_url: "https://x", auth_mode: "Bearer" }, NOW),
      "INVALID_REQUEST",
      "invalid auth_mode: Bearer",
    );
    expectError(
      () => buildNewConnection({ id: "abc", base_url: "https://x", secrets: { " ": "v" } }, NOW),
      "INVALID_REQUEST",
      "secret key cannot be empty",
    );
    expectError(
      () =>
        buildNewConnection(
          { id: "abc", base_url: "https://x", auth_secret_key: "k", secrets: { j: "v" } },
          NOW,
        ),
      "INVALID_REQUEST",
      'auth_secret_key "k" is not present in secrets',
    );
    expectError(
      () => buildNewConnection({ id: "abc", base_url: "https://x", secrets: { k: "v" } }, NOW),
      "INVALID_REQUEST",
      "auth_secret_key is required",
    );
    expectError(
      () =>
        buildNewConnection(
          { id: "abc", base_url: "https://x", auth_secret_key: "k", secrets: { k: "  " } },
          NOW,
        ),
      "INVALID_REQUEST",
      'auth_secret_key "k" is not present in secrets',
    );
    expectError(
      () =>
        buildNewConnection(
          {
            id: "abc",
            base_url: "https://x",
            auth_secret_key: "k",
            secrets: { k: "v" },
            mcp_endpoint: "/mcp",
          },
          NOW,
        ),
      "INVALID_REQUEST",
      'mcp fields require protocol="mcp"',
    );
  });

  test("unsafe ids, non-http base URLs, credentials in URLs and bad header names are refused (hazards)", () => {
    for (const id of ["Bad", "a/b", "../x", "ab", "-abc", "x".repeat(65), "a b"]) {
      expectError(() => httpConnection({ id }), "INVALID_REQUEST", /^invalid id/);
    }
    for (const base_url of [
      "/relative",
      "ftp://x",
      "https://user:pw@x.example",
      "https://x.example/?q=1",
      "javascript:x",
    ]) {
      expectError(() => httpConnection({ base_url }), "INVALID_REQUEST", /^invalid base_url/);
    }
    for (const auth_header_name of ["Host", "content-length", "bad header", "x-sigilum-authz", "a\r\nb"]) {
      expectError(() => httpConnection({ auth_header_name }), "INVALID_REQUEST", /^invalid auth_header_name/);
    }
    expectError(
      () => httpConnection({ secrets: { k: "a\r\nX-Evil: 1" } }),
      "INVALID_REQUEST",
      /control characters/,
    );
    expectError(() => httpConnection({ path_prefix: "/a/../b" }), "INVALID_REQUEST", /path_prefix/);
  });

  test("MCP connections: no secrets needed, transport default, policies normalized", () => {
    const { record } = buildNewConnection(
      {
        id: "mcp-one",
        protocol: "MCP",
        base_url: "https://mcp.example.com",
        mcp_tool_allowlist: [" b ", "a", "a", ""],
        mcp_subject_tool_policies: { alice: { denylist: ["x"] } },
        mcp_endpoint: "mcp/",
      },
      NOW,
    );
    assert.equal(record.protocol, "mcp");
    assert.equal(record.mcp_transport, "streamable_http");
    assert.equal(record.mcp_endpoint, "/mcp");
    assert.deepEqual(record.mcp_tool_policy, { allowlist: ["a", "b"] });
    assert.deepEqual(record.mcp_subject_tool_policies, { alice: { denylist: ["x"] } });
    expectError(
      () =>
        buildNewConnection(
          { id: "mcp-two", protocol: "mcp", base_url: "https://x", mcp_max_tools_exposed: -1 },
          NOW,
        ),
      "INVALID_REQUEST",
      "mcp_max_tools_exposed must be >= 0",
    );
  });

  test("admin JSON: no secret, zero times, omissions (spec §5.1)", () => {
    const json = toConnectionJson(httpConnection());
    assert.equal(json["last_tested_at"], ZERO_TIME);
    assert.equal(json["next_rotation_due_at"], ZERO_TIME);
    assert.equal(json["created_at"], "2026-01-02T03:04:05.6Z");
    assert.equal("path_prefix" in json, false);
    assert.deepEqual(json["mcp_tool_policy"], {});
    assert.equal(JSON.stringify(json).includes("tok"), false);
  });
});

describe("connection update and rotation (spec §5.3, §5.11)", () => {
  test("empty means unchanged; mode change defaults header and prefix", () => {
    const base = httpConnection();
    const same = applyConnectionUpdate(base, { name: " ", path_prefix: "" }, NOW + 1);
    assert.equal(same.name, base.name);
    assert.equal(same.updated_at, NOW + 1);
    const q = applyConnectionUpdate(base, { auth_mode: "query_param" }, NOW);
    assert.equal(q.auth_header_name, "api_key");
    assert.equal(q.auth_prefix, "");
    const back = applyConnectionUpdate(q, { auth_mode: "bearer" }, NOW);
    assert.equal(back.auth_header_name, "api_key", "quirk kept: a non-empty name is not reset");
    assert.equal(back.auth_prefix, "Bearer ");
    expectError(
      () => applyConnectionUpdate(base, { status: "paused" }, NOW),
      "INVALID_REQUEST",
      "invalid status: paused",
    );
    expectError(
      () => applyConnectionUpdate(base, { auth_secret_key: "nope" }, NOW),
      "INVALID_REQUEST",
      'auth_secret_key "nope" is not configured for connection',
    );
    expectError(
      () => applyConnectionUpdate(base, { mcp_tool_allowlist: [] }, NOW),
      "INVALID_REQUEST",
      "mcp fields can only be updated when protocol is mcp",
    );
    const interval = applyConnectionUpdate(base, { rotation_interval_days: 10 }, NOW);
    assert.equal(interval.next_rotation_due_at, NOW + 10 * 86_400_000);
  });

  test("rotation merges, bumps the version, requires a change", () => {
    const base = httpConnection({ rotation_interval_days: 7 });
    const { record, secrets } = applyRotation(
      base,
      { k: "tok" },
      { secrets: { k: "new", extra: "e" } },
      NOW + 5,
    );
    assert.equal(record.secret_version, 2);
    assert.deepEqual(secrets, { k: "new", extra: "e" });
    assert.deepEqual(record.credential_keys, ["extra", "k"]);
    assert.equal(record.last_rotated_at, NOW + 5);
    assert.equal(record.next_rotation_due_at, NOW + 5 + 7 * 86_400_000);
    expectError(
      () => applyRotation(base, { k: "tok" }, { secrets: { k: "tok" } }, NOW),
      "INVALID_REQUEST",
      "secrets are required",
    );
    expectError(() => applyRotation(base, { k: "tok" }, {}, NOW), "INVALID_REQUEST", "secrets are required");
  });

  test("rotation enforcement: overdue after due + grace", () => {
    const record = { ...httpConnection(), next_rotation_due_at: NOW };
    const opts = { rotationEnforcement: "warn" as const, rotationGraceDays: 1 };
    assert.equal(rotationOverdueMessage(record, opts, NOW + 86_400_000), undefined);
    assert.equal(
      rotationOverdueMessage(record, opts, NOW + 86_400_001),
      'connection "demo-conn" secret rotation is overdue (due 2026-01-02T03:04:05Z)',
    );
    assert.equal(rotationOverdueMessage(record, { ...opts, rotationEnforcement: "off" }, NOW * 2), undefined);
  });
});

describe("credential normalization and variables (spec §5.5, §5.7)", () => {
  test("prefix and Bearer are not doubled", () => {
    assert.equal(normalizeCredential("token-123", "Bearer "), "token-123");
    assert.equal(normalizeCredential("Bot bot-token", "Bot "), "bot-token");
    assert.equal(normalizeCredential("Bearer abc", ""), "abc");
    assert.equal(normalizeCredential("bearer\tabc", "Bearer "), "abc");
    assert.equal(normalizeCredential("Bearer", "Bearer "), "");
    assert.equal(normalizeCredential("Bearerabc", "Bearer "), "Bearerabc");
  });

  test("only a whole {{KEY}} is a reference", () => {
    assert.equal(variableReference("{{OPENAI_API_KEY}}"), "OPENAI_API_KEY");
    assert.equal(variableReference(" {{ KEY }} "), "KEY");
    assert.equal(variableReference("{{var:LEGACY}}"), undefined);
    assert.equal(variableReference("prefix-{{X1}}"), undefined);
    assert.equal(variableReference("{{a}}"), undefined, "keys are 2-128 chars");
  });

  test("resolution: missing or empty variables are errors, never an empty credential", async () => {
    const vars = new Map([
      ["GOOD", " sk-live-123 "],
      ["EMPTY", "  "],
    ]);
    const source = { variable: async (k: string) => vars.get(k) };
    assert.deepEqual(await resolveSecrets({ a: "{{GOOD}}", b: "lit" }, source), {
      a: "sk-live-123",
      b: "lit",
    });
    await assert.rejects(resolveSecrets({ a: "{{MISSING}}" }, source), (err: GatewayError) => {
      assert.equal(err.code, "CREDENTIAL_VARIABLE_MISSING");
      assert.equal(err.message, 'resolve secret "a": credential variable not found');
      return true;
    });
    await assert.rejects(
      resolveSecrets({ a: "{{EMPTY}}" }, source),
      /credential variable "EMPTY" has empty value/,
    );
  });
});

describe("runtime route parsing and path joining (never escapes the base path)", () => {
  const parse = (target: string) => {
    const routed = routeOf(target);
    assert.ok(routed.ok, target);
    return routed.value as RuntimeRoute;
  };
  const refusal = (target: string) => {
    const routed = routeOf(target);
    assert.ok(!routed.ok, `${target} was not refused`);
    assert.equal(routed.denial.stage, "route");
    assert.equal(routed.denial.status, 400);
    return routed.denial;
  };
  /** Each of `targets` is refused with `code` and a message matching `message`. */
  const refusedAll = (targets: string[], code: string, message: RegExp) => {
    for (const target of targets) {
      const denial = refusal(target);
      assert.equal(denial.code, code, target);
      assert.match(denial.message ?? "", message, target);
    }
  };

  test("proxy, slack and mcp routes", () => {
    assert.deepEqual(parse("/proxy/my-conn/v1/users?x=1"), {
      kind: "proxy",
      connectionId: "my-conn",
      segments: ["v1", "users"],
      trailingSlash: false,
      rawQuery: "x=1",
      encodedSeparator: false,
    });
    assert.equal(parse("/proxy/my-conn").segments.length, 0);
    assert.equal(parse("/slack").connectionId, "slack-proxy");
    assert.deepEqual(parse("/slack/chat.postMessage").segments, ["chat.postMessage"]);
    assert.deepEqual(routeOf("/slackfoo"), { ok: true, value: null });
    assert.deepEqual(routeOf("/mcp/mcp-1/tools?refresh=1"), {
      ok: true,
      value: { kind: "mcp", action: "list", connectionId: "mcp-1", tool: "", refresh: "1" },
    });
    assert.deepEqual(routeOf("/mcp/mcp-1/tools/a%2Fb/call"), {
      ok: true,
      value: { kind: "mcp", action: "call", connectionId: "mcp-1", tool: "a/b", refresh: null },
    });
    assert.deepEqual(routeOf("/"), { ok: true, value: null });
  });

  test("invalid ids and traversal attempts are refused, never thrown", () => {
    refusedAll(["/proxy/", "/proxy", "/proxy/bad%20id/x"], "INVALID_REQUEST", /invalid proxy path/);
    refusedAll(
      ["/mcp", "/mcp/mcp-1/nope", "/mcp/mcp-1/tools/%20/call", "/mcp/x/tools"],
      "INVALID_REQUEST",
      /invalid mcp path/,
    );
    refusedAll(
      [
        "/proxy/..%2Fother/x",
        "/proxy/c-1/../admin",
        "/proxy/c-1/a/%2e%2e/b",
        "/proxy/c-1/%2E%2E",
        "/proxy/c-1/a%2F..%2Fb",
        "/proxy/c-1/./x",
        "/proxy/c-1/..%5Cx",
        "/proxy/c-1/a\\b",
        "/proxy/c-1/%00",
        "/slack/..",
        "/mcp/linear//tools",
      ],
      "PATH_TRAVERSAL",
      /invalid proxy path/,
    );
    assert.match(refusal("/proxy/c-1/%zz").message ?? "", /malformed percent-encoding/);
  });

  test("double slashes are refused like the verifier refuses them; absolute URLs stay path text", () => {
    refusedAll(
      ["/proxy/c-1//http://evil.example//x/", "/proxy//c-1/x", "/slack//x", "/proxy/c-1/a//"],
      "PATH_TRAVERSAL",
      /empty segments \(double slashes\)/,
    );
    const route = parse("/proxy/c-1/http:/evil.example/x/");
    assert.equal(joinUpstreamPath("/v1", "/pre", route), "/v1/pre/http:/evil.example/x/");
    assert.equal(joinUpstreamPath("/", "", parse("/proxy/c-1")), "/");
    assert.equal(joinUpstreamPath("/v1", "", parse("/proxy/c-1/a%20b/%40me")), "/v1/a%20b/@me");
    // An encoded slash stays inside its segment, and the route says so (the proxy asks the connection).
    const encoded = parse("/proxy/c-1/a%2Fb");
    assert.equal(joinUpstreamPath("/v1", "", encoded), "/v1/a%2Fb");
    assert.equal(encoded.encodedSeparator, true);
  });

  test("property: any accepted path stays under base + prefix and has no dot segment", () => {
    const segment = fc.oneof(
      fc.constantFrom(
        "..",
        ".",
        "%2e%2e",
        "%2E.",
        ".%2e",
        "%2f",
        "%2F..",
        "//",
        "%5c",
        "a",
        "b%20c",
        "http:",
        "",
      ),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), (parts) => {
        const routed = routeOf(`/proxy/conn-1/${parts.join("/")}`);
        if (!routed.ok) return routed.denial.status === 400;
        if (routed.value?.kind !== "proxy") return true;
        const route = routed.value;
        const path = joinUpstreamPath("/base", "/pre", route);
        const decodedSegments = path.split("/").map((s) => {
          try {
            return decodeURIComponent(s);
          } catch {
            return s;
          }
        });
        return path.startsWith("/base/pre") && !decodedSegments.some((s) => s === ".." || s === ".");
      }),
      { numRuns: 2000 },
    );
  });
});

describe("injection (spec §5.5, §5.6)", () => {
  const route = (routeOf("/proxy/demo-conn/items?b=2&api_key=agent&a=1") as { value: RuntimeRoute }).value;

  test("query_param replaces every agent-supplied value and keeps other pairs byte for byte", () => {
    const record = httpConnection({ auth_mode: "query_param" });
    const target = buildUpstreamTarget(record, route, "s3cr3t value");
    assert.equal(target.origin, "https://api.example.com");
    assert.equal(target.path, "/v1/items?b=2&a=1&api_key=s3cr3t+value");
    assert.equal(setQueryParam("", "k", "v"), "k=v");
    assert.equal(setQueryParam("k=1&k=2&x=%20&k", "k", "v"), "x=%20&k=v");
  });

  test("headers: signing, x-sigilum-*, hop-by-hop and agent credentials stripped; credential injected", () => {
    const record = httpConnection({
      auth_mode: "header_key",
      auth_header_name: "X-Api-Key",
      auth_prefix: "",
    });
    const raw = [
      "Signature",
      "sig1=:abc:",
      "Signature-Input",
      "sig1=()",
      "Content-Digest",
      "sha-256=:x:",
      "Sigilum-Namespace",
      "alice",
      "sigilum-agent-cert",
      "cert",
      "X-Sigilum-Authz",
      "token",
      "x-sigilum-admin-token",
      "admin",
      "Authorization",
      "Bearer agent-own",
      "x-api-key",
      "agent-smuggled",
      "X-API-KEY",
      "agent-smuggled-2",
      "Connection",
      "keep-alive, X-Drop-Me",
      "X-Drop-Me",
      "1",
      "Keep-Alive",
      "timeout=5",
      "Transfer-Encoding",
      "chunked",
      "Proxy-Authorization",
      "Basic x",
      "TE",
      "trailers",
      "Upgrade",
      "h2c",
      "Host",
      "gateway.local",
      "X-Request-Id",
      "client-id",
      "X-Forwarded-For",
      "10.0.0.1",
      "Cookie",
      "c=1",
      "Accept",
      "application/json",
      "Content-Length",
      "3",
    ];
    const headers = buildUpstreamHeaders(raw, {
      record,
      credential: "real-key",
      requestId: "req-1",
      peerIp: "127.0.0.1",
      host: "api.example.com",
      bodyLength: 3,
    });
    const pairs: [string, string][] = [];
    for (let i = 0; i < headers.length; i += 2) pairs.push([headers[i]!.toLowerCase(), headers[i + 1]!]);
    const names = pairs.map(([n]) => n);
    for (const forbidden of [
      "signature",
      "signature-input",
      "content-digest",
      "sigilum-namespace",
      "sigilum-agent-cert",
      "x-sigilum-authz",
      "x-sigilum-admin-token",
      "authorization",
      "x-drop-me",
      "keep-alive",
      "transfer-encoding",
      "proxy-authorization",
      "te",
      "upgrade",
      "connection",
    ]) {
      assert.ok(!names.includes(forbidden), `${forbidden} must be stripped`);
    }
    assert.deepEqual(
      pairs.filter(([n]) => n === "x-api-key"),
      [["x-api-key", "real-key"]],
    );
    assert.deepEqual(
      pairs.filter(([n]) => n === "host"),
      [["host", "api.example.com"]],
    );
    assert.deepEqual(
      pairs.find(([n]) => n === "x-request-id"),
      ["x-request-id", "req-1"],
    );
    assert.deepEqual(
      pairs.find(([n]) => n === "x-forwarded-for"),
      ["x-forwarded-for", "10.0.0.1, 127.0.0.1"],
    );
    assert.deepEqual(
      pairs.filter(([n]) => n === "content-length"),
      [["content-length", "3"]],
    );
    assert.ok(names.includes("cookie") && names.includes("accept"));
  });

  test("response hop-by-hop headers are dropped, others kept (repeated ones too)", () => {
    const out = filterResponseHeaders({
      "content-type": "text/plain",
      "set-cookie": ["a=1", "b=2"],
      connection: "close, X-Private",
      "x-private": "1",
      "transfer-encoding": "chunked",
      "keep-alive": "timeout=5",
    });
    assert.deepEqual(out, { "content-type": "text/plain", "set-cookie": ["a=1", "b=2"] });
  });
});

describe("service catalog (spec §5.10)", () => {
  test("the default catalog normalizes and has the reference's templates", () => {
    const catalog = normalizeCatalog(DEFAULT_CATALOG);
    assert.equal(catalog.version, "v1");
    assert.equal(catalog.services.length, 16);
    const byKey = new Map(catalog.services.map((s) => [s.key, s]));
    assert.equal(byKey.get("slack")?.connection_id, "slack-proxy");
    assert.equal(byKey.get("discord")?.auth_prefix, "Bot ");
    assert.equal(byKey.get("telegram")?.auth_header_name, "X-Telegram-Bot-Token");
    assert.equal(byKey.get("canvas")?.path_prefix, "/api/v1");
    assert.equal(byKey.get("typefully-mcp")?.protocol, "mcp");
    assert.equal(byKey.get("typefully-mcp")?.mcp_transport, "streamable_http");
    assert.equal(byKey.get("linear")?.default_test_method, "POST");
    assert.ok(catalog.services.every((s) => s.credential_fields.every((f) => f.secret && f.required)));
  });

  test("validation messages", () => {
    expectError(() => normalizeCatalog({ services: [{}] }), "INVALID_REQUEST", "services[0].key is required");
    expectError(
      () => normalizeCatalog({ services: [{ key: "a", connection_id: "c", base_url: "x" }] }),
      "INVALID_REQUEST",
      "services[0].credential_fields must contain at least one field",
    );
    const svc = { connection_id: "c", base_url: "x", credential_fields: [{ key: "k" }] };
    expectError(
      () =>
        normalizeCatalog({
          services: [
            { key: "a", ...svc },
            { key: "a", ...svc },
          ],
        }),
      "INVALID_REQUEST",
      'duplicate service key "a"',
    );
    expectError(
      () => normalizeCatalog({ services: [{ key: "a", ...svc, auth_secret_key: "zz" }] }),
      "INVALID_REQUEST",
      'services[0].auth_secret_key "zz" not found in credential_fields',
    );
    assert.deepEqual(normalizeCatalog({ version: "", services: [] }), { version: "v1", services: [] });
  });
});

test("time formatting trims fractional zeros like Go RFC3339Nano", () => {
  assert.equal(formatTime(Date.UTC(2026, 0, 1)), "2026-01-01T00:00:00Z");
  assert.equal(formatTime(Date.UTC(2026, 0, 1, 0, 0, 0, 120)), "2026-01-01T00:00:00.12Z");
  assert.equal(formatTime(null), ZERO_TIME);
});
