import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity, type SigilumIdentity } from "@sigilum-gw/shared/identity";
import { startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { suiteFixture } from "@sigilum-gw/testkit/suite";
import { type CheckResponse, envelopeCode, envoyCheck } from "./helpers/envoy-check.ts";
import { SERVICE_API_KEY, startVerifier } from "./helpers/harness.ts";

/**
 * Impersonation over HTTP, the way Envoy asks the verifier: agent A signs correctly with its own key and valid
 * certificate and claims the identity of an agent the feed approved. Each attempt must be refused with its own
 * code; with the check under test removed it would be an allow (200 + x-sigilum-authz) as the approved agent.
 */

const alice = createIdentity("http-imp-alice");
const bob = createIdentity("http-imp-bob");
/** Another agent (key) of Alice's namespace, approved for the service while Alice's own key is not. */
const aliceOther = createIdentity("http-imp-alice");

describe("impersonation over the ext_authz HTTP check", () => {
  const feed = suiteFixture(
    async () => {
      const cp = await startControlPlane({ apiKey: SERVICE_API_KEY });
      cp.approve("crm", bob.namespace, bob.publicKey);
      cp.approve("crm", aliceOther.namespace, aliceOther.publicKey);
      // What a cross-namespace claim would reach without the namespace check: namespace B with the key Alice signs
      // with (a namespace-bound approval answers the same), so the refusal is the check's, not a missing approval.
      cp.approve("crm", bob.namespace, alice.publicKey);
      return cp;
    },
    (cp) => cp.close(),
  );
  const verifier = suiteFixture(
    () => startVerifier(feed.url),
    (v) => v.stop(),
  );

  const check = (
    signer: SigilumIdentity,
    options: { created?: number; headers?: Record<string, string> } = {},
  ): Promise<CheckResponse> => {
    const signed = signRequest(signer, {
      url: "http://127.0.0.1:38100/proxy/crm/v1/items",
      method: "GET",
      ...options,
    });
    return envoyCheck(verifier.port, {
      method: signed.method,
      url: signed.url,
      headers: signed.headers,
      body: null,
    });
  };
  const refused = (response: CheckResponse, code: string) => {
    assert.equal(response.status, 403, response.body);
    assert.equal(envelopeCode(response), code);
    assert.equal(response.headers["x-sigilum-authz"], undefined, "never an allow");
  };
  const aliceClaiming = (field: Partial<SigilumIdentity>): SigilumIdentity => ({ ...alice, ...field });

  test("control: the approved agents themselves are allowed", async () => {
    for (const agent of [bob, aliceOther]) {
      const response = await check(agent);
      assert.equal(response.status, 200, response.body);
      assert.ok(response.headers["x-sigilum-authz"]);
    }
  });

  test("namespace↔certificate check: Alice claims Bob's namespace (approved) with her own valid certificate → AUTH_IDENTITY_INVALID", async () => {
    refused(await check(aliceClaiming({ namespace: bob.namespace })), "AUTH_IDENTITY_INVALID");
  });

  test("agent-key↔certificate check: Alice sends the approved sigilum-agent-key of her namespace's other agent → AUTH_IDENTITY_INVALID", async () => {
    refused(await check(aliceClaiming({ publicKey: aliceOther.publicKey })), "AUTH_IDENTITY_INVALID");
  });

  test("signature expiry check: an approved agent's correctly signed request an hour old → AUTH_SIGNATURE_INVALID", async () => {
    refused(
      await check(aliceOther, { created: Math.floor(Date.now() / 1000) - 3600 }),
      "AUTH_SIGNATURE_INVALID",
    );
  });

  test("unsigned agent-id check: an approved agent adds a sigilum-agent-id it did not sign → AUTH_IDENTITY_INVALID", async () => {
    refused(
      await check(aliceOther, { headers: { "sigilum-agent-id": "billing-bot" } }),
      "AUTH_IDENTITY_INVALID",
    );
  });
});
