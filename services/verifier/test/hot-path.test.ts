import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { parseRoute } from "@sigilum-gw/shared/gateway-route";
import {
  COMPONENTS_NO_BODY,
  COMPONENTS_WITH_BODY,
  PROFILE_SIGNATURE_RE,
  parseProfileSignatureInput,
  profileSignatureBase64,
  SIGNING_HEADERS,
  signRequest,
} from "@sigilum-gw/shared/http-signatures";
import { createIdentity } from "@sigilum-gw/shared/identity";
import { createLogger, decisionLog } from "@sigilum-gw/shared/logger";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import fc from "fast-check";
import { checkHeaders } from "../src/check/headers.ts";
import { envelopeCode, envoyHeaders, rawCheck } from "./helpers/envoy-check.ts";
import { type RunningVerifier, SERVICE_API_KEY, startVerifier } from "./helpers/harness.ts";

// The verifier's hot path replaced some general code of the shared layer with cheaper equivalents; these tests
// hold the cheap versions to the general ones.

test("profileSignatureBase64 accepts exactly what PROFILE_SIGNATURE_RE accepts", () => {
  const reference = (header: string) => PROFILE_SIGNATURE_RE.exec(header)?.[1] ?? null;
  for (let i = 0; i < 200; i++) {
    const header = `sig1=:${randomBytes(64).toString("base64")}:`;
    assert.equal(profileSignatureBase64(header), reference(header));
    assert.notEqual(profileSignatureBase64(header), null);
  }
  // Valid headers, and valid headers with one character replaced, inserted or removed.
  const valid = fc
    .uint8Array({ minLength: 64, maxLength: 64 })
    .map((b) => `sig1=:${Buffer.from(b).toString("base64")}:`);
  const oddChar = fc.constantFrom(..."AQgwBRhx=+/-_.:é\u0000 \n");
  const near = fc
    .tuple(valid, fc.nat(), oddChar, fc.constantFrom("keep", "replace", "insert", "remove"))
    .map(([header, at, char, how]) => {
      const i = at % header.length;
      if (how === "replace") return header.slice(0, i) + char + header.slice(i + 1);
      if (how === "insert") return header.slice(0, i) + char + header.slice(i);
      if (how === "remove") return header.slice(0, i) + header.slice(i + 1);
      return header;
    });
  let accepted = 0;
  fc.assert(
    fc.property(fc.oneof(near, fc.string()), (header) => {
      const got = profileSignatureBase64(header);
      assert.equal(got, reference(header));
      if (got !== null) accepted++;
    }),
    { numRuns: 5000 },
  );
  assert.ok(accepted > 50, `the generator must also produce valid headers (${accepted})`);
});

test("a known component list parses to the same components as the general parse", () => {
  const withAgentId = (list: readonly string[]) => {
    const at = list.indexOf("sigilum-subject") + 1;
    return [...list.slice(0, at), "sigilum-agent-id", ...list.slice(at)];
  };
  for (const list of [
    COMPONENTS_NO_BODY,
    COMPONENTS_WITH_BODY,
    withAgentId(COMPONENTS_NO_BODY),
    withAgentId(COMPONENTS_WITH_BODY),
  ]) {
    const params = ';created=1700000000;keyid="k";alg="ed25519";nonce="n"';
    const known = parseProfileSignatureInput(`sig1=(${list.map((c) => `"${c}"`).join(" ")})${params}`);
    // Two spaces between items: not the SDK spelling, so the general tokenizer runs.
    const general = parseProfileSignatureInput(`sig1=(${list.map((c) => `"${c}"`).join("  ")})${params}`);
    assert.ok(known && general);
    assert.deepEqual(known.components, [...list]);
    assert.deepEqual(general.components, [...list]);
    assert.equal(known.componentsKey, general.componentsKey);
    // The caller may own the array: mutating it must not change the next parse.
    known.components.pop();
    const again = parseProfileSignatureInput(`sig1=(${list.map((c) => `"${c}"`).join(" ")})${params}`);
    assert.deepEqual(again?.components, [...list]);
  }
});

test("a decision line written directly equals the line pino writes for the same fields", () => {
  const lines: string[] = [];
  const logger = createLogger("verifier", {
    level: "info",
    destination: { write: (l: string) => lines.push(l) },
  });
  // A child logger with no bindings takes pino's own path and writes the same prefix.
  const viaPino = logger.child({});
  const sameTime = (line: string) => line.replace(/"timestamp":"[^"]+"/, '"timestamp":"T"');
  const both = (fields: Record<string, unknown>) => {
    lines.length = 0;
    decisionLog(logger, "proxy_auth_denied", fields);
    decisionLog(viaPino, "proxy_auth_denied", fields);
    assert.equal(lines.length, 2);
    return lines.map(sameTime) as [string, string];
  };

  const typical = both({
    request_id: "r-1",
    connection: "bench",
    remote_ip: "198.51.100.9",
    namespace: "alice",
    subject: "user-1",
    public_key: "ed25519:AAAA",
    stage: "claims_authorization",
    decision: "deny",
    reason_code: "AUTH_CLAIM_REQUIRED",
    claim_submit: "queued",
  });
  assert.equal(typical[0], typical[1]);
  assert.ok(!typical[0].includes("alice") && !typical[0].includes("198.51.100.9"));

  const key = fc.constantFrom(
    "request_id",
    "namespace",
    "remote_ip",
    "clientIp",
    "subject",
    "token",
    "authorization",
    "public_key",
    "msg",
    "level",
    "error",
    "err",
    "count",
    "naïve",
    "0",
  );
  const value = fc.oneof(
    fc.string(),
    fc.string({ unit: "binary" }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.ipV4(),
    fc.ipV6(),
    fc.array(fc.string(), { maxLength: 3 }),
    fc.dictionary(key, fc.oneof(fc.string(), fc.integer()), { maxKeys: 3 }),
  );
  fc.assert(
    fc.property(fc.dictionary(key, value, { maxKeys: 8 }), (fields) => {
      const [direct, pino] = both(fields);
      const a = JSON.parse(direct) as Record<string, unknown>;
      const b = JSON.parse(pino) as Record<string, unknown>;
      assert.deepEqual(a, b);
      assert.deepEqual(Object.keys(a), Object.keys(b));
    }),
    { numRuns: 2000 },
  );

  // Lines with a field pino's redact paths cover go through pino.
  lines.length = 0;
  decisionLog(logger, "proxy_auth_denied", { headers: { authorization: "Bearer x", accept: "*/*" } });
  assert.match(lines[0] ?? "", /"authorization":"\[redacted\]"/);
  // Level respected on the direct path.
  lines.length = 0;
  logger.level = "warn";
  decisionLog(logger, "proxy_auth_denied", { request_id: "r-2" });
  assert.equal(lines.length, 0);
});

/** Sends raw header lines to a node:http server and returns what checkHeaders made of them. */
async function headerViews(lines: [string, string][]) {
  let seen: { plain: boolean; view: Record<string, unknown> } | undefined;
  const server = createServer((req, res) => {
    const view = checkHeaders(req);
    seen = { plain: view === req.headers, view: { ...view } };
    res.end();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const socket = connect((server.address() as { port: number }).port, "127.0.0.1");
  socket.end(`GET /check/x HTTP/1.1\r\nhost: a\r\n${lines.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`);
  socket.resume();
  await once(socket, "close");
  server.close();
  assert.ok(seen);
  return seen;
}

test("checkHeaders: the plain view unless a watched header repeats, then every line (any name case)", async () => {
  const single = await headerViews([
    ["Signature", "a"],
    ["accept", "x"],
    ["accept", "y"],
  ]);
  assert.equal(single.plain, true);
  assert.equal(single.view.signature, "a");
  for (const name of [...SIGNING_HEADERS, "x-envoy-auth-partial-body"]) {
    const shouted = name.toUpperCase();
    const repeated = await headerViews([
      [name, "first"],
      ["accept", "x"],
      [shouted, "second"],
    ]);
    assert.equal(repeated.plain, false, name);
    assert.deepEqual(repeated.view[name], ["first", "second"], name);
  }
});

describe("repeated header lines through the verifier", () => {
  let feed: ControlPlane;
  let verifier: RunningVerifier;
  const agent = createIdentity("hot-path-agent");
  before(async () => {
    feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
    feed.approve("linear", agent.namespace, agent.publicKey);
    verifier = await startVerifier(feed.url);
  });
  after(async () => {
    await verifier?.stop();
    await feed?.close();
  });

  const check = (headers: [string, string][], body: Uint8Array | null = null, method = "GET") =>
    rawCheck(verifier.port, method, "/check/proxy/linear/graphql", headers, body);

  test("each repeated single-line signing header, in either case, is AUTH_HEADERS_INVALID", async () => {
    for (const name of SIGNING_HEADERS.filter((n) => n !== "content-digest")) {
      const signed = signRequest(agent, {
        url: "http://127.0.0.1:38100/proxy/linear/graphql",
        headers: { "sigilum-agent-id": "bot-1" },
      });
      const headers = envoyHeaders(signed);
      headers.push([name.replace(/^./, (c) => c.toUpperCase()), signed.headers[name] ?? "x"]);
      const response = await check(headers);
      assert.equal(envelopeCode(response), "AUTH_HEADERS_INVALID", name);
    }
  });

  test("a second x-envoy-auth-partial-body line saying true wins over false", async () => {
    const signed = signRequest(agent, { url: "http://127.0.0.1:38100/proxy/linear/graphql" });
    const headers = envoyHeaders(signed);
    headers.push(["X-Envoy-Auth-Partial-Body", "true"]);
    const response = await check(headers);
    assert.equal(response.status, 413);
    assert.equal(envelopeCode(response), "AUTH_PARTIAL_BODY");
  });

  test("unrepeated headers still allow (the plain view feeds the signature check)", async () => {
    const signed = signRequest(agent, {
      url: "http://127.0.0.1:38100/proxy/linear/graphql",
      method: "POST",
      body: '{"q":1}',
    });
    const response = await check(envoyHeaders(signed), signed.body, "POST");
    assert.equal(response.status, 200, response.body);
  });
});

/** The segment check without its no-'%' fast path: every segment decoded. */
function unsafeReference(path: string): boolean {
  const segments = path.split("/");
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    if (segment === "") {
      if (i === segments.length - 1) continue;
      return true;
    }
    if (segment.includes("\\")) return true;
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return true;
    }
    if (/[\u0000-\u001f\u007f]/.test(decoded)) return true;
    for (const part of decoded.split(/[/\\]/)) if (part === "." || part === "..") return true;
  }
  return false;
}

test("the route check refuses exactly the paths the decode-every-segment check refused", () => {
  const piece = fc.constantFrom(
    ".",
    "..",
    "%2e",
    "%2E",
    "%2f",
    "%5c",
    "\\",
    "a",
    "b.c",
    "%",
    "%zz",
    "%41",
    "%00",
    "%20",
    "/",
  );
  const path = fc.array(piece, { minLength: 1, maxLength: 8 }).map((parts) => `/proxy/svc/${parts.join("")}`);
  fc.assert(
    fc.property(path, (p) => {
      const route = parseRoute(p);
      const unsafe = !route.ok && route.reason === "unsafe_path";
      assert.equal(unsafe, unsafeReference(p), p);
    }),
    { numRuns: 5000 },
  );
});
