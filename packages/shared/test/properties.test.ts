import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { createSigilumVerifier, SIGNING_HEADERS, signRequest } from "../src/http-signatures.ts";
import { createIdentity } from "../src/identity.ts";

const identity = createIdentity("prop-agent");
const created = 1_800_000_000;
const verifier = createSigilumVerifier({ now: () => created });

const segment = fc.stringMatching(/^[a-zA-Z0-9._~-]{1,12}$/);
const requestArb = fc.record({
  method: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE"),
  scheme: fc.constantFrom("http", "https"),
  host: fc.stringMatching(/^[a-z][a-z0-9-]{0,15}(\.[a-z]{2,5})?$/),
  port: fc.option(fc.integer({ min: 1024, max: 65535 }), { nil: undefined }),
  path: fc.array(segment, { minLength: 1, maxLength: 4 }),
  query: fc.option(fc.array(fc.tuple(segment, segment), { minLength: 1, maxLength: 3 }), { nil: undefined }),
  body: fc.option(fc.uint8Array({ minLength: 1, maxLength: 256 }), { nil: null }),
  subject: fc.stringMatching(/^[a-zA-Z0-9@._-]{1,24}$/),
  nonce: fc.uuid(),
});

type Req = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

function urlOf(r: Req): string {
  const query = r.query ? `?${r.query.map(([k, v]) => `${k}=${v}`).join("&")}` : "";
  return `${r.scheme}://${r.host}${r.port ? `:${r.port}` : ""}/${r.path.join("/")}${query}`;
}

function signed(r: Req) {
  return signRequest(identity, {
    url: urlOf(r),
    method: r.method,
    body: r.body,
    subject: r.subject,
    nonce: r.nonce,
    created,
  });
}

/** Changes one character of a string to another printable ASCII character. */
function tweak(text: string, position: number): string {
  const i = position % text.length;
  const replacement = text[i] === "A" ? "B" : "A";
  return text.slice(0, i) + replacement + text.slice(i + 1);
}

const mutations = [
  "method",
  "scheme",
  "host",
  "port",
  "path",
  "query",
  "body-byte",
  "body-added",
  "sigilum-namespace",
  "sigilum-subject",
  "sigilum-agent-key",
  "sigilum-agent-cert",
  "content-digest",
  "param-created",
  "param-keyid",
  "param-nonce",
  "param-alg",
  "signature",
] as const;

test("for any signed request, changing any one signed input makes verification fail", () => {
  fc.assert(
    fc.property(requestArb, fc.constantFrom(...mutations), fc.nat(), (r, mutation, position) => {
      const s = signed(r);
      const ok = verifier.verify({ method: s.method, targetUri: s.url, headers: s.headers, body: s.body });
      assert.ok(ok.ok, ok.ok ? "" : ok.reason);

      let method = s.method;
      let targetUri = s.url;
      let body: Uint8Array | null = s.body;
      const headers = { ...s.headers };
      const url = new URL(s.url);
      const input = headers["signature-input"] as string;
      switch (mutation) {
        case "method":
          method = method === "GET" ? "POST" : "GET";
          break;
        case "scheme":
          targetUri = targetUri.replace(/^https?/, (m) => (m === "http" ? "https" : "http"));
          break;
        case "host":
          targetUri = targetUri.replace(url.hostname, `${url.hostname}x`);
          break;
        case "port":
          targetUri = targetUri.replace(
            url.host,
            `${url.hostname}:${url.port ? Number(url.port) + 1 : 8443}`,
          );
          break;
        case "path":
          targetUri = targetUri.replace(url.pathname, `${url.pathname}x`);
          break;
        case "query":
          targetUri = url.search ? targetUri.replace(url.search, `${url.search}x`) : `${targetUri}?x=1`;
          break;
        case "body-byte":
          if (!body) {
            body = Buffer.from("x");
            break;
          }
          body = Buffer.from(body);
          body[position % body.length]! ^= 1 << (position % 8);
          break;
        case "body-added":
          body = Buffer.concat([Buffer.from(body ?? []), Buffer.from("!")]);
          break;
        case "param-created":
          headers["signature-input"] = input.replace(`created=${created}`, `created=${created - 1}`);
          break;
        case "param-keyid":
          headers["signature-input"] = input.replace(
            /keyid="([^"]+)"/,
            (_m, k: string) => `keyid="${tweak(k, position)}"`,
          );
          break;
        case "param-nonce":
          headers["signature-input"] = input.replace(
            /nonce="([^"]+)"/,
            (_m, n: string) => `nonce="${tweak(n, position)}"`,
          );
          break;
        case "param-alg":
          headers["signature-input"] = input.replace('alg="ed25519"', 'alg="rsa-pss-sha512"');
          break;
        case "signature":
          headers.signature = `sig1=:${tweak((headers.signature as string).slice(6, -3), position)}==:`;
          break;
        default: {
          const value = headers[mutation];
          // Without a body content-digest is not a signed input, so there is nothing to change.
          fc.pre(value !== undefined);
          headers[mutation] = tweak(value as string, position);
        }
      }
      const result = verifier.verify({ method, targetUri, headers, body });
      assert.equal(result.ok, false, `mutation ${mutation} still verified`);
    }),
    { numRuns: 600 },
  );
});

const headerValue = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.constantFrom(
    "sig1=:",
    "sig1=()",
    'sig1=("@method");created=1;keyid="x";alg="ed25519";nonce="n"',
    "ed25519:",
    "=",
    "",
  ),
  fc.array(fc.string({ maxLength: 50 }), { minLength: 0, maxLength: 3 }),
);

test("random garbage in every signing header never throws and never verifies", () => {
  const valid = signed({
    method: "POST",
    scheme: "http",
    host: "gateway",
    port: 38100,
    path: ["proxy", "svc", "x"],
    query: undefined,
    body: Buffer.from("{}"),
    subject: "s",
    nonce: "00000000-0000-4000-8000-000000000000",
  });
  fc.assert(
    fc.property(
      fc.dictionary(fc.constantFrom(...SIGNING_HEADERS), headerValue, { minKeys: 1 }),
      fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null }),
      fc.string({ maxLength: 200 }),
      (garbage, body, target) => {
        const first = (v: string | string[]) =>
          (typeof v === "string" ? v : v.length === 1 ? v[0] : undefined)?.trim();
        // A blank sigilum-agent-id means "absent" and an identical value changes nothing: neither is garbage.
        const changesValid = Object.entries(garbage).some(
          ([name, value]) =>
            !(name === "sigilum-agent-id" && !first(value)) && first(value) !== valid.headers[name]?.trim(),
        );
        for (const base of changesValid ? [valid.headers, {}] : [{}]) {
          const result = verifier.verify({
            method: "POST",
            targetUri: target.length % 2 ? target : valid.url,
            headers: { ...base, ...garbage },
            body: body ?? valid.body,
          });
          assert.equal(result.ok, false);
          assert.ok(!result.ok && typeof result.reason === "string" && result.code.startsWith("AUTH_"));
        }
      },
    ),
    { numRuns: 1500 },
  );
});
