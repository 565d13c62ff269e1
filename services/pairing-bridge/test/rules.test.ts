import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff } from "../src/backoff.ts";
import { allowedPath, relayedHeaders } from "../src/relay-rules.ts";

test("backoff doubles from the minimum up to the maximum, each delay in the upper half of its step", () => {
  const low = new Backoff(100, 1000, () => 0);
  const high = new Backoff(100, 1000, () => 1);
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => low.next()),
    [50, 100, 200, 400, 500, 500],
  );
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => high.next()),
    [100, 200, 400, 800, 1000, 1000],
  );
  low.reset();
  assert.equal(low.next(), 50);
});

test("only the allowlisted admin paths and methods are relayed", () => {
  assert.equal(allowedPath("GET", "/api/admin/connections"), "/api/admin/connections");
  assert.equal(
    allowedPath("POST", "/api/admin/connections/my-api/rotate"),
    "/api/admin/connections/my-api/rotate",
  );
  assert.equal(
    allowedPath("DELETE", "/api/admin/credential-variables/KEY_1"),
    "/api/admin/credential-variables/KEY_1",
  );
  for (const [method, path] of [
    ["DELETE", "/api/admin/connections"],
    ["GET", "/api/admin/connections?x=1"],
    ["GET", "/api/admin/connections#x"],
    ["GET", "/api/admin/connections/a/../../pairing-key"],
    ["GET", "/api/admin/connections/%2e%2e"],
    ["GET", "//evil.example/api/admin/connections"],
    ["GET", "api/admin/connections"],
    ["POST", "/api/admin/connections/a/delete-everything"],
    ["GET", "/api/admin/pairing-key"],
    ["GET", "/metrics"],
  ] as const) {
    assert.equal(allowedPath(method, path), null, `${method} ${path}`);
  }
});

test("only harmless headers pass; admin credentials never come from the owner's side", () => {
  assert.deepEqual(
    relayedHeaders({
      Accept: "application/json",
      "Content-Type": " application/json ",
      Authorization: "Bearer x",
      "X-Sigilum-Admin-Token": "y",
      Host: "evil",
      Cookie: "a=b",
    }),
    { accept: "application/json", "content-type": "application/json" },
  );
});
