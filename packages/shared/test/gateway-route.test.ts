import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseRoute, parseRoutePath, rebuildTargetUri } from "../src/gateway-route.ts";

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
    for (const [path, unsafe] of [
      ["/proxy/a/../b", "dot_segment"],
      ["/proxy/a/./b", "dot_segment"],
      ["/proxy/a/%2e%2E/b", "dot_segment"],
      ["/proxy/a/x%2F..%2Fy", "dot_segment"],
      ["/proxy/a/..;x/b", "dot_segment"],
      ["/proxy//a", "empty_segment"],
      ["/proxy/a/b//c", "empty_segment"],
      ["/slack//x", "empty_segment"],
      ["/slack/../proxy/x", "dot_segment"],
      ["/proxy/a/%zz", "malformed_encoding"],
      ["/proxy/a/b\\c", "backslash"],
      ["/proxy/a/%00", "control_character"],
      ["/proxy/a/x%7Fy", "control_character"],
    ] as const) {
      assert.deepEqual(parseRoute(path), { ok: false, reason: "unsafe_path", unsafe }, path);
    }
    for (const path of ["/proxy/", "/proxy", "/mcp/", "/mcp", "/proxy/%20/x", "proxy/a", "/proxy/a b"]) {
      assert.deepEqual(parseRoute(path), { ok: false, reason: "invalid_path" }, path);
    }
    for (const path of ["/", "/slackfoo", "/api/admin/connections", "/health"]) {
      assert.deepEqual(parseRoute(path), { ok: false, reason: "not_signed_route" }, path);
    }
  });
});

describe("parseRoutePath", () => {
  test("the decoded segments below the connection, for the proxy to forward", () => {
    assert.deepEqual(parseRoutePath("/proxy/gitlab/projects/group%2Fproject/a%20b/"), {
      ok: true,
      route: { kind: "proxy", service: "gitlab" },
      path: { segments: ["projects", "group/project", "a b"], trailingSlash: true, encodedSeparator: true },
    });
    assert.deepEqual(parseRoutePath("/slack/chat.postMessage"), {
      ok: true,
      route: { kind: "slack", service: "slack-proxy" },
      path: { segments: ["chat.postMessage"], trailingSlash: false, encodedSeparator: false },
    });
    assert.deepEqual(parseRoutePath("/proxy/a%2Fb/"), {
      ok: true,
      route: { kind: "proxy", service: "a/b" },
      path: { segments: [], trailingSlash: false, encodedSeparator: false },
    });
    assert.deepEqual(parseRoutePath("/mcp/docs/tools/x%2Fy/call"), {
      ok: true,
      route: { kind: "mcp", service: "docs" },
      path: { segments: ["tools", "x/y", "call"], trailingSlash: false, encodedSeparator: true },
    });
  });

  test("refuses exactly what parseRoute refuses", () => {
    for (const path of ["/proxy//a", "/proxy/a/../b", "/proxy", "/health", "/proxy/a/b\\c"]) {
      assert.deepEqual(parseRoutePath(path), parseRoute(path), path);
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
