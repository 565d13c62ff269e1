import assert from "node:assert/strict";
import { request } from "node:http";
import { before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { withTimeout } from "@sigilum-gw/shared/timeout";
import { DASHBOARD_PAGES } from "../src/routes/dashboard-pages.ts";
import { claimBody, makeIdentity, signedFetch } from "./agents.ts";
import { type Json, rand, setupService, useTestControlPlane } from "./helpers.ts";

/**
 * The dashboard's server side without a browser: pages and assets (CSP, cache headers), the Host check, the CSRF
 * rules for cookie sessions, one-time login links, the passkey routes' refusals, live claim events and the usage
 * timeline. tests/dashboard drives the same through Chromium.
 */

/** A raw HTTP request (fetch cannot set Host, Origin or Sec-Fetch-Site freely). */
function raw(
  url: string,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Json }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        method: opts.method ?? "GET",
        path: opts.path,
        headers: opts.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: Json = text;
          try {
            body = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

describe("dashboard server side (PostgreSQL)", () => {
  const t = useTestControlPlane({
    freshDatabase: true,
    env: { CONTROL_PLANE_ALLOWED_HOSTS: "dashboard.internal", DASHBOARD_SIGNUP: "false" },
  });
  let ns: string;
  let token: string;
  let host: string;
  let cookie: string;

  /** A session cookie from a login link, as the browser gets it. */
  const signIn = async (): Promise<string> => {
    const link = await t.owner(token, "POST", "/v1/auth/login-links");
    assert.equal(link.status, 201);
    const linkToken = new URL(link.body.url).hash.slice("#link=".length);
    const redeemed = await raw(t.url, {
      method: "POST",
      path: "/v1/auth/login-links/redeem",
      headers: { host, "content-type": "application/json", "x-sigilum-dashboard": "1" },
      body: JSON.stringify({ token: linkToken }),
    });
    assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body));
    const setCookie = String(redeemed.headers["set-cookie"]);
    return setCookie.split(";")[0]!;
  };

  before(async () => {
    ns = `dash-${rand(3)}`;
    ({ token } = await setupService(t, ns, `svc-${rand(3)}`));
    host = new URL(t.url).host;
    cookie = await signIn();
  });

  test("pages: the HTML shell with a strict CSP on every page path; unknown paths stay JSON 404", async () => {
    for (const path of DASHBOARD_PAGES) {
      const res = await raw(t.url, { path, headers: { host, accept: "text/html" } });
      assert.equal(res.status, 200, path);
      assert.match(String(res.headers["content-type"]), /text\/html/);
      assert.equal(res.headers["cache-control"], "no-cache");
      assert.equal(res.headers["x-frame-options"], "DENY");
      const csp = String(res.headers["content-security-policy"]);
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'/);
      assert.doesNotMatch(csp, /unsafe/);
    }
    const missing = await raw(t.url, { path: "/nope", headers: { host, accept: "text/html" } });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, "NOT_FOUND");
  });

  test("assets: content-hashed URLs cached a year; other versions, vendor non-scripts and dotfiles are 404", async () => {
    const page = await raw(t.url, { path: "/", headers: { host } });
    const base = /href="(\/assets\/[0-9a-f]{16})\/app\.css"/.exec(page.body)?.[1];
    assert.ok(base, "the page links its hashed asset directory");
    for (const path of [
      `${base}/app.js`,
      `${base}/app.css`,
      `${base}/vendor/webauthn/methods/startRegistration.js`,
      `${base}/vendor/tweetnacl/nacl-fast.min.js`,
      `${base}/vendor/noble-hashes/blake2.js`,
      `${base}/lib/sealed-box.js`,
    ]) {
      const res = await raw(t.url, { path, headers: { host } });
      assert.equal(res.status, 200, path);
      assert.equal(res.headers["cache-control"], "public, max-age=31536000, immutable");
      assert.equal(res.headers["x-content-type-options"], "nosniff");
    }
    for (const path of [
      "/assets/0000000000000000/app.js",
      `${base}/vendor/webauthn/index.d.ts`,
      `${base}/vendor/webauthn/package.json`,
      `${base}/vendor/tweetnacl/package.json`,
      `${base}/vendor/noble-hashes/src/blake2.ts`,
      `${base}/../index.html`,
    ]) {
      const res = await raw(t.url, { path, headers: { host } });
      assert.equal(res.status, 404, path);
    }
  });

  test("Host check: pages, assets and cookie sessions answer only on loopback and the allowed hosts", async () => {
    for (const bad of ["evil.example", "evil.example:80", "127.0.0.1.nip.io", "local host"]) {
      const page = await raw(t.url, { path: "/", headers: { host: bad } });
      assert.equal(page.status, 403, `page on Host ${bad}`);
      assert.equal(page.body.code, "ADMIN_HOST_NOT_ALLOWED");
      const api = await raw(t.url, { path: "/v1/auth/me", headers: { host: bad, cookie } });
      assert.equal(api.status, 403, `cookie call on Host ${bad}`);
      assert.equal(api.body.code, "ADMIN_HOST_NOT_ALLOWED");
    }
    for (const good of [
      "localhost",
      `localhost:${new URL(t.url).port}`,
      "127.0.0.1:1",
      "[::1]:8787",
      "dashboard.internal:443",
    ]) {
      assert.equal((await raw(t.url, { path: "/", headers: { host: good } })).status, 200, good);
    }
  });

  test("CSRF: a cookie session's changes need the dashboard header and the dashboard's own origin", async () => {
    const body = JSON.stringify({ name: "k" });
    const svc = (await t.owner(token, "GET", "/v1/services")).body.services[0];
    const post = (headers: Record<string, string>) =>
      raw(t.url, {
        method: "POST",
        path: `/v1/services/${svc.id}/keys`,
        headers: { host, cookie, "content-type": "application/json", ...headers },
        body,
      });
    const refusals: [string, Record<string, string>, string][] = [
      ["no dashboard header (a script on the same site)", {}, "DASHBOARD_HEADER_REQUIRED"],
      ["a wrong dashboard header", { "x-sigilum-dashboard": "0" }, "DASHBOARD_HEADER_REQUIRED"],
      // In ALLOWED_ORIGINS (CORS) by default, and the same site as localhost:<port>: still not the dashboard.
      [
        "an allowed CORS origin",
        { "x-sigilum-dashboard": "1", origin: "http://localhost:3000" },
        "ADMIN_ORIGIN_NOT_ALLOWED",
      ],
      [
        "another loopback origin",
        { "x-sigilum-dashboard": "1", origin: "http://localhost:1" },
        "ADMIN_ORIGIN_NOT_ALLOWED",
      ],
      [
        "another site",
        { "x-sigilum-dashboard": "1", origin: "http://evil.example" },
        "ADMIN_ORIGIN_NOT_ALLOWED",
      ],
      ["origin null", { "x-sigilum-dashboard": "1", origin: "null" }, "ADMIN_ORIGIN_NOT_ALLOWED"],
      [
        "sec-fetch-site same-site",
        { "x-sigilum-dashboard": "1", "sec-fetch-site": "same-site" },
        "ADMIN_CROSS_SITE_REFUSED",
      ],
      [
        "sec-fetch-site cross-site",
        { "x-sigilum-dashboard": "1", "sec-fetch-site": "cross-site" },
        "ADMIN_CROSS_SITE_REFUSED",
      ],
    ];
    for (const [what, headers, code] of refusals) {
      const res = await post(headers);
      assert.equal(res.status, 403, what);
      assert.equal(res.body.code, code, what);
    }
    const form = await raw(t.url, {
      method: "POST",
      path: `/v1/services/${svc.id}/keys`,
      headers: {
        host,
        cookie,
        "content-type": "application/x-www-form-urlencoded",
        "x-sigilum-dashboard": "1",
      },
      body: "name=k",
    });
    assert.equal(form.status, 415, "a form body never reaches the route");
    // Reads from another site are refused too (a cross-site page could otherwise time them).
    const read = await raw(t.url, {
      path: "/v1/auth/me",
      headers: { host, cookie, "sec-fetch-site": "cross-site" },
    });
    assert.equal(read.status, 403);
    const keys = await t.owner(token, "GET", `/v1/services/${svc.id}/keys`);
    assert.equal(keys.body.keys.length, 1, "no key was created by a refused request");

    const ok = await post({
      "x-sigilum-dashboard": "1",
      origin: `http://${host}`,
      "sec-fetch-site": "same-origin",
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    // The CORS preflight never allows the dashboard header, whatever the origin.
    const preflight = await raw(t.url, {
      method: "OPTIONS",
      path: `/v1/services/${svc.id}/keys`,
      headers: {
        host,
        origin: "http://localhost:3000",
        "access-control-request-headers": "x-sigilum-dashboard",
      },
    });
    assert.doesNotMatch(
      String(preflight.headers["access-control-allow-headers"] ?? ""),
      /x-sigilum-dashboard/i,
    );
  });

  test("login links: one use, expire, malformed ones are 400; the session cookie is HttpOnly and SameSite=Strict", async () => {
    const link = await t.owner(token, "POST", "/v1/auth/login-links");
    assert.match(
      link.body.url,
      /^http:\/\/localhost:\d+\/login#link=[A-Za-z0-9_-]{43}$/,
      "loopback IP shown as localhost",
    );
    const linkToken = new URL(link.body.url).hash.slice(6);
    const redeem = (tok: unknown, extra: Record<string, string> = {}) =>
      raw(t.url, {
        method: "POST",
        path: "/v1/auth/login-links/redeem",
        headers: { host, "content-type": "application/json", "x-sigilum-dashboard": "1", ...extra },
        body: JSON.stringify({ token: tok }),
      });
    const crossSite = await redeem(linkToken, { origin: "http://evil.example" });
    assert.equal(crossSite.status, 403, "a page elsewhere cannot log the browser in (login CSRF)");
    const first = await redeem(linkToken);
    assert.equal(first.status, 200);
    assert.equal(first.body.user.namespace, ns);
    const setCookie = String(first.headers["set-cookie"]);
    assert.match(setCookie, /^sigilum_token=[^;]+; HttpOnly; Path=\/; Max-Age=43200; SameSite=Strict$/);
    assert.equal(
      JSON.stringify(first.body).includes(setCookie.split(";")[0]!.split("=")[1]!),
      false,
      "JWT not in the body",
    );
    const second = await redeem(linkToken);
    assert.equal(second.status, 401);
    assert.equal(second.body.code, "LOGIN_LINK_INVALID");

    const stale = await t.owner(token, "POST", "/v1/auth/login-links");
    await t.cp.deps.db.query(
      "UPDATE login_links SET expires_at = now() - interval '1 second' WHERE used_at IS NULL",
    );
    assert.equal((await redeem(new URL(stale.body.url).hash.slice(6))).status, 401);
    for (const bad of ["", "short", "x".repeat(43).replace(/x$/, "!"), 42, null]) {
      assert.equal((await redeem(bad)).status, 400, JSON.stringify(bad));
    }
    assert.equal((await t.owner("not-a-jwt", "POST", "/v1/auth/login-links")).status, 401);
    const { rows } = await t.cp.deps.db.query<{ token_hash: string }>("SELECT token_hash FROM login_links");
    assert.ok(
      rows.every((r) => !r.token_hash.includes(linkToken)),
      "only hashes are stored",
    );
  });

  test("passkey routes: bad credentials, unknown challenges and unknown passkeys are 4xx; sign-up is off", async () => {
    const me = await raw(t.url, { path: "/v1/auth/me", headers: { host, cookie } });
    assert.deepEqual(me.body.passkeys, []);
    const options = await raw(t.url, { path: "/v1/auth/passkeys/options", headers: { host, cookie } });
    assert.equal(options.status, 200);
    assert.equal(options.body.rp.id, "127.0.0.1");
    assert.equal(options.body.attestation, "none");
    const send = (method: string, path: string, body: unknown) =>
      raw(t.url, {
        method,
        path,
        headers: { host, cookie, "content-type": "application/json", "x-sigilum-dashboard": "1" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
    const clientData = (challenge: string) =>
      Buffer.from(JSON.stringify({ type: "webauthn.create", challenge, origin: `http://${host}` })).toString(
        "base64url",
      );
    const fakeCredential = (challenge: string) => ({
      id: "AAAA",
      rawId: "AAAA",
      type: "public-key",
      response: { clientDataJSON: clientData(challenge), attestationObject: "AAAA" },
      clientExtensionResults: {},
    });
    const cases: [string, string, string, unknown, number, string][] = [
      ["invalid json", "POST", "/v1/auth/passkeys", "{nope", 400, "INVALID_JSON"],
      ["no credential", "POST", "/v1/auth/passkeys", {}, 400, "VALIDATION_ERROR"],
      [
        "unknown challenge",
        "POST",
        "/v1/auth/passkeys",
        { credential: fakeCredential("bm9wZQ") },
        400,
        "CHALLENGE_EXPIRED",
      ],
      [
        "forged attestation",
        "POST",
        "/v1/auth/passkeys",
        { credential: fakeCredential(options.body.challenge) },
        400,
        "VERIFICATION_FAILED",
      ],
      [
        "challenge used up",
        "POST",
        "/v1/auth/passkeys",
        { credential: fakeCredential(options.body.challenge) },
        400,
        "CHALLENGE_EXPIRED",
      ],
      ["rename unknown", "PATCH", "/v1/auth/passkeys/nope", { name: "x" }, 404, "NOT_FOUND"],
      ["rename empty", "PATCH", "/v1/auth/passkeys/nope", { name: " " }, 400, "VALIDATION_ERROR"],
      ["delete unknown", "DELETE", "/v1/auth/passkeys/nope", undefined, 404, "NOT_FOUND"],
      [
        "login without challenge",
        "POST",
        "/v1/auth/login",
        {
          credential: {
            ...fakeCredential("eA"),
            response: { clientDataJSON: clientData("eA"), authenticatorData: "AA", signature: "AA" },
          },
        },
        400,
        "CHALLENGE_EXPIRED",
      ],
      ["login bad shape", "POST", "/v1/auth/login", { credential: { id: 1 } }, 400, "VALIDATION_ERROR"],
    ];
    for (const [what, method, path, body, status, code] of cases) {
      const res = await send(method, path, body);
      assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, code, what);
    }
    const loginOptions = await raw(t.url, { path: "/v1/auth/login/options", headers: { host } });
    const unknownKey = await send("POST", "/v1/auth/login", {
      credential: {
        id: "dW5rbm93bg",
        rawId: "dW5rbm93bg",
        type: "public-key",
        response: {
          clientDataJSON: clientData(loginOptions.body.challenge),
          authenticatorData: "AA",
          signature: "AA",
        },
        clientExtensionResults: {},
      },
    });
    assert.equal(unknownKey.status, 401);
    assert.equal(unknownKey.body.code, "CREDENTIAL_NOT_FOUND");
    const signup = await raw(t.url, {
      path: "/v1/auth/signup/options?email=a@b.example&namespace=newbie",
      headers: { host },
    });
    assert.equal(signup.status, 403);
    assert.equal(signup.body.code, "SIGNUP_DISABLED");
  });

  test("live events: the stream says `claims` when a request is filed for the namespace", async () => {
    const controller = new AbortController();
    const res = await fetch(`${t.url}/v1/dashboard/events`, {
      headers: { cookie },
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
    const reader = res.body!.getReader();
    let text = "";
    const received = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return false;
        text += Buffer.from(value).toString("utf8");
        if (text.includes("event: claims")) return true;
      }
    })();
    await sleep(1500);
    const slug = `live-${rand(3)}`;
    const { apiKey } = await setupService(t, ns, slug);
    const agent = await makeIdentity(ns);
    const submit = await signedFetch(agent, `${t.url}/v1/claims`, {
      body: claimBody(agent, slug),
      headers: { authorization: `Bearer ${apiKey}` },
    });
    assert.equal(submit.status, 201);
    const got = await withTimeout(received, 5000);
    controller.abort();
    assert.deepEqual(got, { settled: "resolved", value: true }, `stream so far: ${text}`);
    const anonymous = await fetch(`${t.url}/v1/dashboard/events`);
    assert.equal(anonymous.status, 401);
  });

  test("usage timeline: calls per bucket and service; bad ranges are 400", async () => {
    const svc = (await t.owner(token, "GET", "/v1/services")).body.services[0];
    const insert = (minutesAgo: number, outcome: string) =>
      t.cp.deps.db.query(
        `INSERT INTO usage_events (service_id, event_id, namespace, service, public_key, subject, protocol, action, outcome, created_at)
         VALUES ($1, $2, $3, $4, 'ed25519:k', 's', 'http', 'proxy', $5, now() - ($6::integer * interval '1 minute'))`,
        [svc.id, `ue_${rand(6)}`, ns, svc.slug, outcome, minutesAgo],
      );
    await insert(1, "success");
    await insert(1, "error");
    await insert(1, "success");
    await insert(120, "success");
    const minute = await t.owner(token, "GET", `/v1/namespaces/${ns}/usage/timeline?bucket=minute`);
    assert.equal(minute.status, 200);
    const total = minute.body.points.reduce((n: number, p: Json) => n + p.total, 0);
    const errors = minute.body.points.reduce((n: number, p: Json) => n + p.errors, 0);
    assert.deepEqual([total, errors], [3, 1], "the last 48 minutes hold three calls, one failed");
    const hour = await t.owner(
      token,
      "GET",
      `/v1/namespaces/${ns}/usage/timeline?bucket=hour&provider=${svc.slug}`,
    );
    assert.equal(
      hour.body.points.reduce((n: number, p: Json) => n + p.total, 0),
      4,
    );
    for (const bad of [
      "bucket=week",
      "from=yesterday",
      "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
      "bucket=minute&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
    ]) {
      const res = await t.owner(token, "GET", `/v1/namespaces/${ns}/usage/timeline?${bad}`);
      assert.equal(res.status, 400, bad);
    }
    assert.equal((await t.owner(token, "GET", `/v1/namespaces/other-${rand(2)}/usage/timeline`)).status, 403);
  });
});
