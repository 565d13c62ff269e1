import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SEALED_BOX_ALGORITHM } from "@sigilum-gw/shared/pairing-frames";
import { generateBoxKeyPair, sealToKey } from "@sigilum-gw/shared/sealed-box";
import { adminJson, dumpPrefix, startProxy, testConfig, useProxy, useUpstream } from "./helpers.ts";

/** Secret fields sealed to the gateway's X25519 key (pairing relay): the admin API opens them itself. */

const SECRET = "sealed-path-SECRET-5b1c";

describe("sealed secret fields in the admin API", () => {
  const upstream = useUpstream();
  const gw = useProxy(() => testConfig());
  const key = async (base: string) => {
    const res = await adminJson(base, "GET", "/api/admin/pairing-key");
    assert.equal(res.status, 200, res.text);
    return res.json as { public_key: string; algorithm: string };
  };

  test("the public key is published; every replica on the same Redis serves the same one", async () => {
    const published = await key(gw.url);
    assert.equal(published.algorithm, SEALED_BOX_ALGORITHM);
    assert.equal(Buffer.from(published.public_key, "base64").length, 32);
    const replica = await startProxy(gw.config);
    try {
      assert.deepEqual(await key(replica.url), published);
    } finally {
      await replica.stop();
    }
    assert.equal((await adminJson(gw.url, "DELETE", "/api/admin/pairing-key")).status, 405);
  });

  test("a sealed secret is opened, stored and used; the secret key rests sealed under the master key", async () => {
    const { public_key } = await key(gw.url);
    const created = await adminJson(gw.url, "POST", "/api/admin/connections", {
      id: "sealed-conn",
      base_url: upstream.url,
      auth_secret_key: "token",
      secrets: { token: { sealed: sealToKey(SECRET, public_key) } },
    });
    assert.equal(created.status, 201, created.text);
    const tested = await adminJson(gw.url, "POST", "/api/admin/connections/sealed-conn/test");
    assert.equal(tested.status, 200, tested.text);
    assert.equal(upstream.requests.at(-1)?.headers.authorization, `Bearer ${SECRET}`);
    const variable = await adminJson(gw.url, "POST", "/api/admin/credential-variables", {
      key: "SEALED_VAR",
      value: { sealed: sealToKey(`${SECRET}-var`, public_key) },
    });
    assert.equal(variable.status, 200, variable.text);

    const dump = await dumpPrefix(gw.config.redisPrefix);
    assert.ok(!dump.includes(SECRET), "no secret in clear in Redis");
    const stored = dump.split("\n").find((l) => l.startsWith(`${gw.config.redisPrefix}pairing-key `));
    assert.ok(stored, dump);
    const record = JSON.parse(JSON.parse(stored.slice(stored.indexOf(" ") + 1)) as string);
    assert.deepEqual(Object.keys(record).sort(), ["ct", "iv", "kid", "tag", "v"]);
  });

  test("a value sealed to another key, or not a sealed box at all, is a 400 and nothing is stored", async () => {
    const stranger = generateBoxKeyPair().publicKey.toString("base64");
    for (const sealed of [sealToKey(SECRET, stranger), "AAAA", ""]) {
      const res = await adminJson(gw.url, "POST", "/api/admin/connections", {
        id: "never-stored",
        base_url: upstream.url,
        auth_secret_key: "token",
        secrets: { token: { sealed } },
      });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.code, "INVALID_REQUEST");
      assert.match(res.json.error, /invalid sealed value/);
    }
    assert.equal((await adminJson(gw.url, "GET", "/api/admin/connections/never-stored")).status, 404);
  });
});
