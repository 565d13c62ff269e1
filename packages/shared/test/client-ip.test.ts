import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { clientIpFrom, createTrustedProxies } from "../src/client-ip.ts";

describe("trusted proxies and client IP", () => {
  const trusted = createTrustedProxies(["203.0.113.0/24", "10.0.0.1/32", "2001:db8::/32"]);

  test("CIDR membership, IPv4-mapped peers included", () => {
    assert.equal(trusted.contains("203.0.113.10"), true);
    assert.equal(trusted.contains("::ffff:203.0.113.10"), true);
    assert.equal(trusted.contains("10.0.0.2"), false);
    assert.equal(trusted.contains("2001:db8::5"), true);
    assert.equal(trusted.contains(undefined), false);
    assert.equal(trusted.contains("not-an-ip"), false);
    assert.equal(createTrustedProxies([]).contains("127.0.0.1"), false);
    assert.throws(() => createTrustedProxies(["not-a-cidr"]), /invalid trusted proxy CIDR/);
  });

  test("x-forwarded-for counts only from a trusted peer, and only the entry that peer appended", () => {
    assert.equal(clientIpFrom("203.0.113.10", "10.0.0.5", false), "203.0.113.10");
    assert.equal(clientIpFrom("203.0.113.10", "10.0.0.5, 10.0.0.6", true), "10.0.0.6");
    assert.equal(clientIpFrom("203.0.113.10", "127.0.0.1, 198.51.100.7", true), "198.51.100.7");
    assert.equal(clientIpFrom("203.0.113.10", "not-an-ip", true), "203.0.113.10");
    assert.equal(clientIpFrom("::ffff:203.0.113.10", undefined, true), "203.0.113.10");
    assert.equal(clientIpFrom(undefined, undefined, false), "127.0.0.1");
  });
});
