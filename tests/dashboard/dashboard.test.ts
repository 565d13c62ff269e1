import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { startRecordingServer } from "@sigilum-gw/testkit/network";
import { stdoutJson } from "@sigilum-gw/testkit/process";
import { until } from "@sigilum-gw/testkit/until";
import type { BrowserContext, Page } from "playwright-core";
import {
  addVirtualAuthenticator,
  fromOtherOrigins,
  phoneDarkTour,
  screenshot,
  type TestBrowser,
  type VirtualAuthenticator,
  visit as visitPage,
} from "./browser.ts";
import { type DashboardRun, startDashboardRun } from "./session.ts";
import type { DashboardStack } from "./stack.ts";

/**
 * The dashboard in a real browser (Debian's Chromium, headless, driven by playwright-core) against the real local
 * stack: sign in with a login link and with a passkey, approve an agent's live request, revoke it, create a
 * service key, watch the usage chart; axe-core on every page; a second origin on loopback cannot act.
 */

interface ClaimRow {
  claim_id: string;
  service: string;
  status: string;
}

describe("dashboard in Chromium", { timeout: 240_000 }, () => {
  let stack: DashboardStack;
  let chromium: TestBrowser;
  let context: BrowserContext;
  let page: Page;
  let cspErrors: string[] = [];
  let run: DashboardRun;
  let claimId = "";
  let authenticator: VirtualAuthenticator;

  const agentRequest = async () =>
    stdoutJson<{ status: number; body: string }>(
      await stack.sigilum(["request", "GET", "/proxy/echo/v1/ping", "--json"]),
    );

  const claims = async (status: string): Promise<ClaimRow[]> => {
    const res = await fetch(
      `${stack.dashboardUrl}/v1/namespaces/${stack.namespace}/claims?status=${status}`,
      {
        headers: { authorization: `Bearer ${await stack.ownerToken()}` },
      },
    );
    assert.equal(res.status, 200);
    return ((await res.json()) as { claims: ClaimRow[] }).claims;
  };

  /** Opens a page of the dashboard, checks it with axe-core and keeps a screenshot. */
  const visit = (path: string, heading: string, shot: string) =>
    visitPage(page, `${stack.dashboardUrl}${path}`, heading, shot);

  before(async () => {
    run = await startDashboardRun();
    ({ stack, chromium, context, page, cspErrors } = run);
    authenticator = await addVirtualAuthenticator(context, page);
  });

  after(async () => {
    await run?.stop();
  });

  test("GET / without a session shows the sign-in page; HTML has a strict CSP, assets are cached a year", async () => {
    const res = await fetch(`${stack.dashboardUrl}/`, { headers: { accept: "text/html" } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    const html = await res.text();
    const script = /<script type="module" src="([^"]+)"/.exec(html)?.[1];
    assert.ok(script, "the page loads one module script");
    assert.doesNotMatch(html.replace(/<script[^>]*src=[^>]*><\/script>/g, ""), /<script/, "no inline script");
    const asset = await fetch(`${stack.dashboardUrl}${script}`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get("cache-control") ?? "", /max-age=31536000.*immutable/);

    await visit("/", "Sign in", "01-sign-in");
    assert.equal(new URL(page.url()).pathname, "/login");
  });

  test("sign in with the one-time link that `sigilum auth login --open` prints; the link works once", async () => {
    const run = await stack.sigilum(["auth", "login", "--open", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const out = stdoutJson<{ login_url: string; opened: boolean }>(run);
    assert.equal(out.opened, true, "handed to $BROWSER");
    assert.match(out.login_url, new RegExp(`^${stack.dashboardUrl}/login#link=[A-Za-z0-9_-]{43}$`));
    await page.goto(out.login_url);
    await page.getByRole("heading", { level: 1, name: "Pending requests" }).waitFor();
    assert.equal(await page.locator("#who").textContent(), stack.namespace);
    assert.equal(new URL(page.url()).hash, "", "the token leaves the address bar");

    const again = await fetch(`${stack.dashboardUrl}/v1/auth/login-links/redeem`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-sigilum-dashboard": "1" },
      body: JSON.stringify({ token: new URL(out.login_url).hash.slice("#link=".length) }),
    });
    assert.equal(again.status, 401);
    assert.equal(((await again.json()) as { code: string }).code, "LOGIN_LINK_INVALID");
  });

  test("register a passkey (virtual authenticator), sign out, sign in with it; rename and delete passkeys", async () => {
    await visit("/passkeys", "Passkeys", "02-passkeys-empty");
    await page.getByLabel("Passkey name").fill("Laptop");
    await page.getByRole("button", { name: "Add a passkey" }).click();
    await page.getByText("Passkey added.").waitFor();
    await page.locator("tr[data-passkey]").first().waitFor();

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
    const me = await page.evaluate("fetch('/v1/auth/me').then((r) => r.status)");
    assert.equal(me, 401, "signed out");
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await page.getByRole("heading", { level: 1, name: "Pending requests" }).waitFor();

    await page.goto(`${stack.dashboardUrl}/passkeys`);
    const row = page.locator("tr[data-passkey]").first();
    assert.match((await row.textContent()) ?? "", /just now|min ago/, "last use recorded");
    await row.getByRole("textbox").fill("Work laptop");
    await row.getByRole("button", { name: "Rename" }).click();
    await page.getByText("Passkey renamed").waitFor();
    await authenticator.replace();
    await page.getByLabel("Passkey name").fill("Spare");
    await page.getByRole("button", { name: "Add a passkey" }).click();
    await until("two passkeys", 10_000, async () =>
      (await page.locator("tr[data-passkey]").count()) === 2 ? true : undefined,
    );
    await visit("/passkeys", "Passkeys", "03-passkeys");
    const names = await page
      .locator("tr[data-passkey] input")
      .evaluateAll((els) => els.map((e) => (e as unknown as { value: string }).value));
    assert.deepEqual(names.sort(), ["Spare", "Work laptop"]);
    const spare = page
      .locator("tr[data-passkey]")
      .filter({ has: page.getByRole("textbox", { name: "Name of passkey Spare" }) });
    await spare.getByRole("button", { name: "Delete" }).click();
    await spare.getByRole("button", { name: "Confirm delete" }).click();
    await until("one passkey", 10_000, async () =>
      (await page.locator("tr[data-passkey]").count()) === 1 ? true : undefined,
    );
  });

  test("an agent's first signed request appears as pending without a reload", async () => {
    await visit("/approvals", "Pending requests", "04-approvals-empty");
    const first = await agentRequest();
    assert.equal(first.status, 403);
    const row = page.locator("tr[data-claim]");
    await row.first().waitFor({ timeout: 15_000 });
    claimId = (await row.first().getAttribute("data-claim")) ?? "";
    assert.match(claimId, /^cl_/);
    assert.match((await row.first().textContent()) ?? "", /echo/);
    await screenshot(page, "05-approvals-pending");
  });

  test("another origin on loopback cannot act with the owner's session (same-site and cross-site)", async () => {
    const attacker = await startRecordingServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<!doctype html><title>attacker</title>
        <form id="f" method="post" action="${stack.dashboardUrl}/v1/claims/${claimId}/approve"></form>
        <script>
          const target = ${JSON.stringify(`${stack.dashboardUrl}/v1/claims/${claimId}/approve`)};
          window.results = Promise.all([
            fetch(target, { method: "POST", credentials: "include", mode: "no-cors" }).then(() => "sent", (e) => "blocked"),
            fetch(target, { method: "POST", credentials: "include", headers: { "x-sigilum-dashboard": "1" } })
              .then((r) => "status " + r.status, () => "blocked"),
            fetch(target, { method: "POST", credentials: "include", headers: { "content-type": "application/json" }, body: "{}" })
              .then((r) => "status " + r.status, () => "blocked"),
          ]);
        </script>`);
    });
    try {
      await fromOtherOrigins(context, attacker.url, async (evil, origin) => {
        await evil.evaluate("document.getElementById('f').submit()");
        await evil.waitForLoadState();
        const body = (await evil.textContent("body")) ?? "";
        assert.match(
          body,
          /"code":"(ADMIN_[A-Z_]+|DASHBOARD_HEADER_REQUIRED)"/,
          `${origin}: form post refused: ${body}`,
        );
        assert.deepEqual(
          (await claims("pending")).map((c) => c.claim_id),
          [claimId],
          `${origin}: the claim is still pending`,
        );
      });
      const refused = attacker.requests.length;
      assert.ok(refused >= 2, "both attacker pages loaded");
    } finally {
      await attacker.close();
    }
  });

  test("approve it in the dashboard: the agent's retry passes", async () => {
    const row = page.locator(`tr[data-claim="${claimId}"]`);
    await row.getByRole("button", { name: "Approve" }).focus();
    await page.keyboard.press("Enter");
    await page.getByText("No pending requests.").waitFor();
    const answer = await until("the approved request to pass", 10_000, async () => {
      const out = await agentRequest();
      return out.status === 200 ? out : undefined;
    });
    assert.deepEqual(JSON.parse(answer.body), { echoed: true, url: "/v1/ping" });
    assert.equal(stack.echo.requests.at(-1)?.headers.authorization, `Bearer ${stack.upstreamSecret}`);
  });

  test("the usage chart shows the requests just made", async () => {
    await until("the usage event to reach the control plane", 20_000, async () => {
      const res = await fetch(`${stack.dashboardUrl}/v1/namespaces/${stack.namespace}/usage`, {
        headers: { authorization: `Bearer ${await stack.ownerToken()}` },
      });
      const body = (await res.json()) as { summary: { total_events: number } };
      return body.summary.total_events >= 1 ? true : undefined;
    });
    await visit("/usage", "Usage", "06-usage");
    await page.getByLabel("Range").selectOption("minute");
    await page.getByRole("button", { name: "Show" }).click();
    const bar = page.locator("svg.chart rect.bar").first();
    await bar.waitFor();
    assert.ok(Number(await bar.getAttribute("data-calls")) >= 1);
    assert.match((await page.locator("figcaption").textContent()) ?? "", /^[1-9]\d* calls?, /);
    assert.match((await page.locator("table").textContent()) ?? "", /echo/);
    await screenshot(page, "07-usage-chart");
  });

  test("revoke on the agents page (last use shown): the next request is denied", async () => {
    await visit("/agents", "Approved agents", "08-agents");
    const row = page.locator(`tr[data-claim="${claimId}"]`);
    assert.match((await row.textContent()) ?? "", /echo.*(just now|min ago)/, "approved and last use");
    await row.getByRole("button", { name: "Revoke" }).click();
    await row.getByRole("button", { name: "Confirm revoke" }).click();
    await page.getByText("No approved agents yet.").waitFor();
    // History before the agent asks again: its next denied request files a fresh claim for the same key.
    await visit("/history", "History", "09-history");
    assert.match((await page.locator(`tr[data-claim="${claimId}"]`).textContent()) ?? "", /revoked/);
    await until("the revoked agent to be denied", 10_000, async () => {
      const out = await agentRequest();
      return out.status === 403 ? true : undefined;
    });
  });

  test("create a service and an API key: the key is shown once, then only its last characters", async () => {
    await visit("/services", "Services and API keys", "10-services");
    await page.getByLabel("Name", { exact: true }).fill("Billing API");
    await page.getByLabel("Slug").fill("billing");
    await page.getByLabel("Domain").fill("billing.example.com");
    await page.getByLabel("Description").fill("Invoices");
    await page.getByRole("button", { name: "Create service" }).click();
    const card = page.locator("article[data-service='billing']");
    await card.waitFor();
    await card.getByLabel("New key name").fill("ci");
    await card.getByRole("button", { name: "Create API key" }).click();
    const shown = await card.getByLabel("New API key").inputValue();
    assert.match(shown, /^sk_live_[0-9a-f]{48}$/);
    await screenshot(page, "11-service-key-shown-once");
    await page.reload();
    await card.locator("tr[data-key]").waitFor();
    assert.equal(await card.getByLabel("New API key").count(), 0, "not shown again");
    assert.doesNotMatch((await page.content()) ?? "", new RegExp(shown));
    assert.match(
      (await card.locator("tr[data-key]").textContent()) ?? "",
      new RegExp(`\\.\\.\\.${shown.slice(-4)}`),
    );
    await card.getByRole("button", { name: "Revoke" }).click();
    await card.getByRole("button", { name: "Confirm revoke" }).click();
    await card.getByText("No active API keys.").waitFor();
  });

  test("dark theme, phone width and keyboard: readable, no sideways scroll, no axe violations", async () => {
    await phoneDarkTour(page, stack.dashboardUrl, [
      ["/approvals", "Pending requests"],
      ["/agents", "Approved agents"],
      ["/history", "History"],
      ["/services", "Services and API keys"],
      ["/usage", "Usage"],
      ["/webhooks", "Webhooks"],
      ["/gateway", "Gateway"],
      ["/passkeys", "Passkeys"],
    ]);
    // Keyboard: a page change puts the focus on the content; Shift+Tab goes back to the navigation, Enter follows it.
    await page.goto(`${stack.dashboardUrl}/approvals`);
    await page.getByRole("heading", { level: 1, name: "Pending requests" }).waitFor();
    assert.equal(await page.evaluate("document.activeElement.id"), "main");
    let reached = false;
    for (let i = 0; i < 8 && !reached; i++) {
      await page.keyboard.press("Shift+Tab");
      reached = (await page.evaluate("document.activeElement.textContent")) === "Usage";
    }
    assert.ok(reached, "the Usage link is reachable with the keyboard");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Usage" }).waitFor();
    await page.getByRole("button", { name: /Colour theme/ }).click();
    assert.equal(await page.evaluate("document.documentElement.dataset.theme"), "light");
    await visit("/usage", "Usage", "phone-light-usage");
  });

  test("first load: at most 150 KB of JavaScript compressed; no CSP violation anywhere", async () => {
    const fresh = await chromium.browser.newContext();
    const first = await fresh.newPage();
    const scripts: Buffer[] = [];
    const scriptUrls: string[] = [];
    first.on("response", async (res) => {
      if (res.request().resourceType() !== "script") return;
      scriptUrls.push(res.url());
      scripts.push(await res.body());
    });
    await first.goto(`${stack.dashboardUrl}/`);
    await first.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
    await first.waitForLoadState("networkidle");
    const raw = scripts.reduce((n, b) => n + b.length, 0);
    const gzipped = scripts.reduce((n, b) => n + gzipSync(b).length, 0);
    console.log(`dashboard first load: ${scripts.length} scripts, ${raw} bytes, ${gzipped} bytes gzipped`);
    assert.ok(scripts.length > 0);
    assert.ok(gzipped <= 150 * 1024, `${gzipped} bytes`);
    assert.deepEqual(
      scriptUrls.filter((u) => u.includes("/vendor/")),
      [],
      "libraries (passkeys, the gateway page's sealed boxes) load only on the page that needs them",
    );
    await fresh.close();
    assert.deepEqual(cspErrors, [], "no Content-Security-Policy violation on any page");
  });
});
