import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity } from "@sigilum-gw/shared/identity";
import { type ControlPlane, startControlPlane } from "../src/control-plane.ts";

const API_KEY = "testkit-service-key";
const gateway = createIdentity("testkit-gateway");
let controlPlane: ControlPlane;

before(async () => {
  controlPlane = await startControlPlane({ apiKey: API_KEY });
});
after(async () => {
  await controlPlane.close();
});

function signedFetch(path: string, init: { method?: string; body?: string; apiKey?: string } = {}) {
  const signed = signRequest(gateway, {
    url: controlPlane.url + path,
    method: init.method ?? "GET",
    body: init.body,
    headers: init.body ? { "content-type": "application/json" } : {},
  });
  return fetch(signed.url, {
    method: signed.method,
    headers: { ...signed.headers, authorization: `Bearer ${init.apiKey ?? API_KEY}` },
    body: init.body,
  });
}

test("the feed serves approvals page by page to a signed call with the service key", async () => {
  controlPlane.maxPage = 1;
  controlPlane.approve("crm", "alice", "ed25519:a");
  controlPlane.approve("crm", "bob", "ed25519:b");
  const res = await signedFetch("/v1/namespaces/claims?service=crm&offset=1");
  assert.equal(res.status, 200);
  const page = (await res.json()) as { claims: { namespace: string }[]; pagination: { has_more: boolean } };
  assert.deepEqual(
    page.claims.map((c) => c.namespace),
    ["bob"],
  );
  assert.equal(page.pagination.has_more, false);
  assert.deepEqual(controlPlane.feedRequests, [{ service: "crm", offset: 1 }]);
  assert.deepEqual(controlPlane.rejected, []);
});

test("claim submissions and usage events are recorded", async () => {
  const claim = await signedFetch("/v1/claims", { method: "POST", body: JSON.stringify({ service: "crm" }) });
  assert.equal(claim.status, 201);
  assert.deepEqual(controlPlane.submissions.at(-1)?.body, { service: "crm" });
  controlPlane.usageStatus = 503;
  const usage = await signedFetch("/v1/usage/events", { method: "POST", body: '{"event_id":"ev-1"}' });
  assert.equal(usage.status, 503);
  const event = controlPlane.usageEvents.at(-1);
  assert.deepEqual(event?.body, { event_id: "ev-1" });
  assert.equal(event?.signer, "testkit-gateway");
  assert.equal(event?.status, 503);
});

test("a wrong service key or a missing signature is refused and recorded", async () => {
  const before = controlPlane.rejected.length;
  assert.equal((await signedFetch("/v1/claims", { method: "POST", apiKey: "wrong" })).status, 401);
  const unsigned = await fetch(`${controlPlane.url}/v1/namespaces/claims?service=crm`, {
    headers: { authorization: `Bearer ${API_KEY}` },
  });
  assert.equal(unsigned.status, 401);
  assert.deepEqual(
    controlPlane.rejected.slice(before).map((reason) => reason.split(":")[0]),
    ["api key", "signature"],
  );
});
