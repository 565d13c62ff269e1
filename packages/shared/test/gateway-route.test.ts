import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseRoute, rebuildTargetUri } from "../src/gateway-route.ts";

describe("parseRoute", () => {
  test("connection id from /proxy, /mcp and the /slack alias", () => {
    assert.deepEqual(parseRoute("/proxy/linear/graphql"), {
      ok: true,
      route: { kind: "proxy", service: "linear" },
    });
    assert.deepEqual(parseRoute("/proxy/linear"), { ok: true, route: { kind: "proxy", service: "linear" } });
    assert.deepEqual(parseRoute("/mcp/linear-mcp/tools/a.b/call"), {
      ok: true,
      route: { kind: "mcp", service: "linear-mcp" },
    });
    assert.deepEqual(parseRoute("/slack"), { ok: true, route: { kind: "slack", service: "slack-proxy" } });
    assert.deepEqual(parseRoute("/slack/chat.postMessage"), {
      ok: true,
      route: { kind: "slack", service: "slack-proxy" },
    });
    assert.deepEqual(parseRoute("/proxy/my%20conn/x"), {
      ok: true,
      route: { kind: "proxy", service: "my conn" },
    });
    assert.deepEqual(parseRoute("/proxy/gitlab/projects/group%2Fproject"), {
      ok: true,
      route: { kind: "proxy", service: "gitlab" },
    });
  });

  test("refuses what could resolve elsewhere downstream", () => {
    for (const path of [
      "/proxy/a/../b",
      "/proxy/a/./b",
      "/proxy/a/%2e%2E/b",
      "/proxy/a/x%2F..%2Fy",
      "/proxy//a",
      "/slack/../proxy/x",
      "/proxy/a/%zz",
    ]) {
      assert.deepEqual(parseRoute(path), { ok: false, reason: "unsafe_path" }, path);
    }
    for (const path of ["/proxy/", "/proxy", "/mcp/", "/mcp", "/proxy/%20/x", "proxy/a", "/proxy/a b"]) {
      assert.deepEqual(parseRoute(path), { ok: false, reason: "invalid_path" }, path);
    }
    for (const path of ["/", "/slackfoo", "/api/admin/connections", "/health"]) {
      assert.deepEqual(parseRoute(path), { ok: false, reason: "not_signed_route" }, path);
    }
  });
});

describe("@target-uri", () => {
  const base = { target: "/proxy/slack?b=2&a=1", host: "gateway.example", forwardedProto: "https" };
  test("x-forwarded-proto only from a trusted peer (spec §14 forwarded-header cases)", () => {
    assert.equal(
      rebuildTargetUri({ ...base, peerTrusted: false }, undefined),
      "http://gateway.example/proxy/slack?b=2&a=1",
    );
    assert.equal(
      rebuildTargetUri({ ...base, peerTrusted: true }, undefined),
      "https://gateway.example/proxy/slack?b=2&a=1",
    );
    assert.equal(
      rebuildTargetUri({ ...base, forwardedProto: "HTTPS, http", peerTrusted: true }, undefined),
      "https://gateway.example/proxy/slack?b=2&a=1",
    );
    assert.equal(
      rebuildTargetUri({ ...base, forwardedProto: "gopher", peerTrusted: true }, undefined),
      "http://gateway.example/proxy/slack?b=2&a=1",
    );
  });
  test("Host verbatim, never normalized; empty → localhost; GATEWAY_PUBLIC_URL wins", () => {
    assert.equal(
      rebuildTargetUri({ ...base, host: "GW.Example:80", peerTrusted: false }, undefined),
      "http://GW.Example:80/proxy/slack?b=2&a=1",
    );
    assert.equal(
      rebuildTargetUri({ ...base, host: " ", peerTrusted: false }, undefined),
      "http://localhost/proxy/slack?b=2&a=1",
    );
    assert.equal(
      rebuildTargetUri({ ...base, peerTrusted: false }, "https://public.example"),
      "https://public.example/proxy/slack?b=2&a=1",
    );
  });
});
