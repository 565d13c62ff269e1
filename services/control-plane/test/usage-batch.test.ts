import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import type { SigilumIdentity } from "@sigilum-gw/shared/identity";
import { claimBody, makeIdentity, signedFetch, usageEventBody } from "./agents.ts";
import { rand, setupService, useTestControlPlane } from "./helpers.ts";

describe("POST /v1/usage/events/batch (PostgreSQL)", () => {
  const t = useTestControlPlane({ freshDatabase: true, redis: true });
  let ns: string;
  let slug: string;
  let apiKey: string;
  let gateway: SigilumIdentity;
  let approved: SigilumIdentity;
  let stranger: SigilumIdentity;

  const event = (agent: SigilumIdentity, extra: Record<string, unknown> = {}) =>
    usageEventBody({ namespace: ns, service: slug }, agent, extra);
  const post = (body: unknown, key = apiKey) =>
    signedFetch(gateway, `${t.url}/v1/usage/events/batch`, {
      body,
      headers: { authorization: `Bearer ${key}` },
    });
  const stored = async (ids: string[]) =>
    (
      await t.cp.deps.db.query(
        "SELECT count(*)::int AS n FROM usage_events WHERE event_id = ANY($1::text[])",
        [ids],
      )
    ).rows[0]!.n as number;

  before(async () => {
    ns = `ubatch-${rand(3)}`;
    slug = `svc-${rand(3)}`;
    ({ apiKey } = await setupService(t, ns, slug));
    gateway = await makeIdentity(`gateway-${rand(3)}`);
    approved = await makeIdentity(ns);
    stranger = await makeIdentity(ns);
    const sub = await signedFetch(approved, `${t.url}/v1/claims`, {
      body: claimBody(approved, slug),
      headers: { authorization: `Bearer ${apiKey}` },
    });
    assert.equal(sub.status, 201, JSON.stringify(sub.body));
  });

  test("stores every event of a batch in one request; a batch sent again counts as duplicates", async () => {
    const events = Array.from({ length: 300 }, (_, i) =>
      event(approved, { request_method: "get", status_code: 200, duration_ms: i, agent_id: "main" }),
    );
    const first = await post({ events });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(first.body, { accepted: 300, duplicates: 0, rejected: [] });
    assert.equal(await stored(events.map((e) => e.event_id)), 300);
    const again = await post({ events: [...events.slice(0, 10), events[0]] });
    assert.deepEqual(again.body, { accepted: 0, duplicates: 11, rejected: [] });
    const { rows } = await t.cp.deps.db.query(
      "SELECT request_method, duration_ms, agent_id FROM usage_events WHERE event_id = $1",
      [events[7]!.event_id],
    );
    assert.deepEqual(rows[0], { request_method: "GET", duration_ms: 7, agent_id: "main" });
  });

  test("bad events are rejected one by one with their code; the others are stored", async () => {
    const good = event(approved);
    const unknownAgent = event(stranger);
    const otherService = event(approved, { service: "someone-else" });
    const malformed = { ...event(approved), status_code: 99 };
    const res = await post({ events: [malformed, good, unknownAgent, otherService, "nope"] });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.accepted, 1);
    assert.deepEqual(
      res.body.rejected.map((r: { index: number; code: string; event_id?: string }) => [
        r.index,
        r.code,
        r.event_id,
      ]),
      [
        [0, "VALIDATION_ERROR", malformed.event_id],
        [2, "FORBIDDEN", unknownAgent.event_id],
        [3, "FORBIDDEN", otherService.event_id],
        [4, "VALIDATION_ERROR", undefined],
      ],
    );
    assert.equal(
      await stored([good.event_id, unknownAgent.event_id, otherService.event_id, malformed.event_id]),
      1,
    );
  });

  test("text PostgreSQL cannot store (NUL, a lone surrogate) refuses the body; the same as escaped text is stored", async () => {
    for (const bad of ["a\u0000b", "/v1/\ud800", "\udfff/x"]) {
      const refused = event(approved, { request_path: bad });
      const res = await post({ events: [event(approved), refused] });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.code, "VALIDATION_ERROR");
      assert.equal(await stored([refused.event_id]), 0);
    }
    const paired = event(approved, { request_path: "/v1/\ud83d\ude00" });
    const text = event(approved, { request_path: "/v1/\\u0000/\\ud800" });
    const res = await post({ events: [paired, text] });
    assert.deepEqual(res.body, { accepted: 2, duplicates: 0, rejected: [] });
    const { rows } = await t.cp.deps.db.query<{ request_path: string }>(
      "SELECT request_path FROM usage_events WHERE event_id = ANY($1::text[]) ORDER BY request_path",
      [[paired.event_id, text.event_id]],
    );
    assert.deepEqual(
      rows.map((r) => r.request_path),
      ["/v1/\\u0000/\\ud800", "/v1/\u{1f600}"],
    );
  });

  test("an empty, oversized or non-array batch is a 400; a bad key 403, none 401", async () => {
    for (const body of [{}, { events: [] }, { events: "x" }, { events: Array(1001).fill(event(approved)) }]) {
      const res = await post(body);
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(res.body.code, "VALIDATION_ERROR");
    }
    const badKey = await post({ events: [event(approved)] }, "sk_live_not-a-key");
    assert.equal(badKey.status, 403);
    const noKey = await signedFetch(gateway, `${t.url}/v1/usage/events/batch`, {
      body: { events: [event(approved)] },
    });
    assert.equal(noKey.status, 401);
    const unsigned = await fetch(`${t.url}/v1/usage/events/batch`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ events: [event(approved)] }),
    });
    assert.equal(unsigned.status, 401);
    assert.equal(((await unsigned.json()) as { code: string }).code, "SIGNATURE_MISSING");
  });
});
