import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRoute } from "@sigilum-gw/shared/gateway-route";
import {
  createSigilumVerifier,
  parseProfileSignatureInput,
  SIGNING_HEADERS,
  signRequest,
} from "@sigilum-gw/shared/http-signatures";
import { createIdentity } from "@sigilum-gw/shared/identity";
import fc from "fast-check";
import { joinUpstreamPath, routeOf } from "../../services/proxy/src/pipeline/route.ts";

/**
 * Property fuzzing of the two parsers an attacker feeds directly: the signature parser (Signature-Input and the
 * whole profile verification) and the route parsers (the verifier's, which decides which service is authorized,
 * and the proxy's, which builds the upstream path). 10,000 cases each in `npm test`; `npm run test:fuzz` runs
 * SECURITY_FUZZ_RUNS (default there 200,000).
 */

const RUNS = Number(process.env.SECURITY_FUZZ_RUNS ?? 10_000);

const agent = createIdentity("agent-fuzz");
const verifier = createSigilumVerifier({ maxAgeSeconds: 300 });
const valid = signRequest(agent, { url: "http://127.0.0.1:38100/proxy/svc/x", method: "POST", body: "{}" });

/** Pieces that look like the profile, so the parser is driven past its first checks. */
const profilePiece = fc.constantFrom(
  "sig1=",
  "sig2=",
  '("@method" "@target-uri" "sigilum-namespace" "sigilum-subject" "sigilum-agent-key" "sigilum-agent-cert")',
  '("@method" "@target-uri" "content-digest")',
  "()",
  ";created=",
  ";created=1700000000",
  ';keyid="did:sigilum:x#ed25519-0011223344556677"',
  ';alg="ed25519"',
  ';alg="hmac-sha256"',
  ';nonce=""',
  ';nonce="n"',
  ";nonce=",
  '"',
  "\\",
  ":",
  "=",
  ",",
  " ",
  "\t",
);
const headerText = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.array(profilePiece, { maxLength: 12 }).map((parts) => parts.join("")),
);

test(`signature parser: ${RUNS} malformed signing headers never throw and never verify`, () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.constantFrom(...SIGNING_HEADERS), headerText, { minKeys: 1 }),
      fc.boolean(),
      (garbage, keepValid) => {
        const input = garbage["signature-input"];
        if (input !== undefined) parseProfileSignatureInput(input);
        const changes = Object.entries(garbage).some(
          ([name, v]) => v.trim() !== (valid.headers[name] ?? "").trim(),
        );
        const headers = keepValid && changes ? { ...valid.headers, ...garbage } : garbage;
        const result = verifier.verify({ method: "POST", targetUri: valid.url, headers, body: valid.body });
        assert.equal(result.ok, false);
        assert.ok(!result.ok && result.code.startsWith("AUTH_"));
      },
    ),
    { numRuns: RUNS },
  );
});

const pathPiece = fc.constantFrom(
  "/",
  "//",
  ".",
  "..",
  "..;",
  ".;x",
  "%2e",
  "%2E%2E",
  "%2F",
  "%2f",
  "%5C",
  "\\",
  "%",
  "%zz",
  "%00",
  ";",
  "svc",
  "a",
  "b-c",
  "%20",
  "proxy",
  "http:",
  "?",
  "x=1",
);
const path = fc
  .tuple(
    fc.constantFrom("/proxy/", "/slack", "/slack/", "/mcp/", "/"),
    fc.array(pathPiece, { maxLength: 14 }),
  )
  .map(([head, parts]) => head + parts.join(""));

test(`route parsers: ${RUNS} hostile paths never escape the base path, and the verifier and the proxy agree`, () => {
  fc.assert(
    fc.property(path, (target) => {
      const q = target.indexOf("?");
      const verdict = parseRoute(q === -1 ? target : target.slice(0, q));
      const routed = routeOf(target);
      if (!routed.ok) {
        assert.equal(routed.denial.status, 400, `${target} → ${routed.denial.code}`);
        // One grammar: what the verifier calls unsafe, the proxy refuses with the verifier's code.
        if (!verdict.ok && verdict.reason === "unsafe_path")
          assert.equal(routed.denial.code, "PATH_TRAVERSAL");
        return;
      }
      if (routed.value?.kind !== "proxy") return;
      const route = routed.value;
      const upstream = joinUpstreamPath("/base", "", route);
      assert.ok(upstream === "/base" || upstream.startsWith("/base/"), `${target} → ${upstream}`);
      for (const segment of upstream.split("/")) {
        const decoded = decodeURIComponent(segment);
        assert.ok(!/^\.\.?(;.*)?$/.test(decoded), `${target} → ${upstream}: dot segment`);
      }
      // Whatever the proxy serves, the verifier authorized for the same service.
      assert.ok(verdict.ok, `${target}: served by the proxy, refused by the verifier`);
      assert.equal(verdict.route.service, route.connectionId, target);
    }),
    { numRuns: RUNS },
  );
});
