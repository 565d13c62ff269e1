/** Fixture identity and golden values of spec/controlplane-cli-sdk.md §D.9/§D.10 (reference TS SDK output). */
export const FIXTURE_SEED_BASE64 = "ZMLKzZSCxP8QXOO1vlmejAvdFaesd3QC6JC9iCt8FfA=";
export const fixtureSeed = Buffer.from(FIXTURE_SEED_BASE64, "base64");
export const fixtureCertificate = {
  version: 1 as const,
  namespace: "fixture-alice",
  did: "did:sigilum:fixture-alice",
  keyId: "did:sigilum:fixture-alice#ed25519-99fb00dc16ee555a",
  publicKey: "ed25519:J07dj/co4diCmQYTTQGq4adhnMKYejHazCYUQ7eBh0k=",
  issuedAt: "2026-02-20T18:04:26Z",
  expiresAt: null,
  proof: {
    alg: "ed25519" as const,
    sig: "vGp-WLmSr0BWNci2lBhcJORg39ot-3Uu1aaVG2wGEKLItK_964hFaRrVd7DHf_2e3ykGpIacoM9Q5gs_tPy6Dw",
  },
};
