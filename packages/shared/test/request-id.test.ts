import assert from "node:assert/strict";
import { test } from "node:test";
import { generateRequestId, MAX_REQUEST_ID_LENGTH, requestIdFrom } from "../src/request-id.ts";

const GENERATED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test("generated ids are 16 random bytes as 8-4-4-4-12 lower-case hex, unique", () => {
  const ids = new Set(Array.from({ length: 1000 }, generateRequestId));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.match(id, GENERATED);
});

test("a safe incoming x-request-id is reused, trimmed", () => {
  assert.equal(requestIdFrom({ "x-request-id": "req-from-client" }), "req-from-client");
  assert.equal(requestIdFrom({ "x-request-id": "  abc.DEF_1:2/3+4=5@6  " }), "abc.DEF_1:2/3+4=5@6");
  assert.equal(requestIdFrom({ "x-request-id": ["only-one"] }), "only-one");
});

test("unsafe, oversized, blank or duplicated ids are replaced, never echoed", () => {
  for (const bad of [
    "",
    "   ",
    "a\nb",
    'x"}',
    "has space",
    "<script>",
    "x".repeat(MAX_REQUEST_ID_LENGTH + 1),
    "a\u0000b",
    "é",
  ]) {
    const id = requestIdFrom({ "x-request-id": bad });
    assert.match(id, GENERATED, JSON.stringify(bad));
  }
  assert.match(requestIdFrom({ "x-request-id": ["a", "b"] }), GENERATED);
  assert.match(requestIdFrom({}), GENERATED);
  assert.equal(
    requestIdFrom({ "x-request-id": "x".repeat(MAX_REQUEST_ID_LENGTH) }).length,
    MAX_REQUEST_ID_LENGTH,
  );
});
