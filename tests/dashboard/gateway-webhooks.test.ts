import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type RecordingServer, startRecordingServer } from "@sigilum-gw/testkit/network";
import { stdoutJson } from "@sigilum-gw/testkit/process";
import { until } from "@sigilum-gw/testkit/until";
import pg from "pg";
import type { BrowserContext, Page } from "playwright-core";
import { type FrameCapture, startFrameCapture } from "../pairing/capture.ts";
import { checkPage, fromOtherOrigins, phoneDarkTour, screenshot, visit } from "./browser.ts";
import { type DashboardRun, startDashboardRun } from "./session.ts";
import type { DashboardStack } from "./stack.ts";

/**
 * The webhooks and gateway pages in Chromium against the real local stack: a webhook to a loopback receiver gets
 * a test event and shows the delivery; a failing receiver's delivery becomes a dead letter on the page and is
 * redelivered; a real pairing bridge (`sigilum gateway pair`, through a frame-capturing relay) pairs with the
 * page, a provider connection added there serves an agent's signed request with the injected secret, and that
 * secret is in clear in none of the control plane's tables, its log, the relay frames or the browser's requests.
 */

const WEBHOOK_SECRET = `whsec-${randomBytes(12).toString("hex")}`;

/** Keyboard only: Tab from the page's content until the button named `label` has the focus, then Enter. */
async function pressWithKeyboard(page: Page, label: string): Promise<void> {
  await page.locator("#main").focus();
  let reached = false;
  for (let i = 0; i < 12 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = (await page.evaluate("document.activeElement.textContent")) === label;
  }
  assert.ok(reached, `${label} is reachable with the keyboard`);
  await page.keyboard.press("Enter");
}

describe("webhooks and gateway pages in Chromium", { timeout: 300_000 }, () => {
  let stack: DashboardStack;
  let context: BrowserContext;
  let page: Page;
  let cspErrors: string[] = [];
  let run: DashboardRun;
  /** Every request body the dashboard page sent (to check no secret left the browser in clear). */
  const sentBodies: string[] = [];
  let capture: FrameCapture | undefined;
  const servers: RecordingServer[] = [];

  const ownerCall = async (method: string, path: string) => {
    const res = await fetch(`${stack.dashboardUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${await stack.ownerToken()}` },
    });
    return {
      status: res.status,
      body: (await res.json()) as Record<string, unknown> & { [k: string]: never },
    };
  };

  before(async () => {
    run = await startDashboardRun({
      WEBHOOK_ALLOW_PRIVATE_TARGETS: "true",
      WEBHOOK_RETRY_DELAYS_SECONDS: "1",
      WEBHOOK_RETRY_WINDOW_SECONDS: "2",
    });
    ({ stack, context, page, cspErrors } = run);
    page.on("request", (req) => {
      const body = req.postData();
      if (body) sentBodies.push(body);
    });
    const login = await stack.sigilum(["auth", "login", "--open", "--json"]);
    assert.equal(login.code, 0, login.stderr);
    await page.goto(stdoutJson<{ login_url: string }>(login).login_url);
    await page.getByRole("heading", { level: 1, name: "Pending requests" }).waitFor();
  });

  after(async () => {
    await stack?.sigilum(["gateway", "pair", "--stop"]).catch(() => undefined);
    await capture?.close();
    await Promise.all(servers.map((s) => s.close()));
    await run?.stop();
  });

  test("webhooks: add one for a loopback receiver, send a test event (keyboard), the delivery is listed", async () => {
    const receiver = await startRecordingServer((_req, res) => res.writeHead(204).end());
    servers.push(receiver);
    await visit(page, `${stack.dashboardUrl}/webhooks`, "Webhooks", "20-webhooks-empty");
    await page.getByLabel("Endpoint URL").fill(`${receiver.url}/hook`);
    await page.getByLabel("Signing secret").fill(WEBHOOK_SECRET);
    await page.getByRole("button", { name: "Add webhook" }).click();
    const card = page.locator("article[data-webhook]");
    await card.waitFor();

    await pressWithKeyboard(page, "Send test event");
    const row = card.locator('tr[data-status="delivered"]');
    await row.waitFor({ timeout: 15_000 });
    assert.match((await row.textContent()) ?? "", /webhook\.test.*delivered.*1/);
    const sent = receiver.requests.at(-1)!;
    assert.equal(sent.url, "/hook");
    assert.equal(JSON.parse(sent.body).event, "webhook.test");
    assert.match(String(sent.headers["x-sigilum-signature-v2"]), /^sha256=[0-9a-f]{64}$/);
    await checkPage(page, "21-webhooks-delivered");
  });

  test("webhooks: a failing receiver's delivery becomes a dead letter on the page; redeliver once it works", async () => {
    let failing = true;
    const receiver = await startRecordingServer((_req, res) => res.writeHead(failing ? 500 : 200).end());
    servers.push(receiver);
    await page.getByLabel("Endpoint URL").fill(receiver.url);
    await page.getByLabel("Signing secret").fill(WEBHOOK_SECRET);
    await page.getByRole("button", { name: "Add webhook" }).click();
    const card = page.locator("article[data-webhook]").filter({ hasText: receiver.url });
    await card.waitFor();
    await card.getByRole("button", { name: "Send test event" }).click();
    const dead = page.locator("tr[data-dead-letter]");
    await dead.waitFor({ timeout: 20_000 });
    assert.match((await dead.textContent()) ?? "", /webhook\.test.*HTTP 500/);
    await card.locator('tr[data-status="dead_letter"]').waitFor();
    assert.match((await card.locator('tr[data-status="dead_letter"]').textContent()) ?? "", /HTTP 500/);
    await checkPage(page, "22-webhooks-dead-letter");

    failing = false;
    await dead.getByRole("button", { name: "Redeliver" }).click();
    await card.locator('tr[data-status="delivered"]').waitFor({ timeout: 15_000 });
    await page.getByText("No dead letters.").waitFor();
    assert.equal(receiver.requests.at(-1)?.method, "POST");
  });

  test("gateway: pair a real bridge, add a provider connection; the agent's request gets the injected secret; rotate, test, delete", async () => {
    const secret = `sk-dash-${randomBytes(16).toString("hex")}`;
    const rotated = `sk-rotated-${randomBytes(16).toString("hex")}`;
    const upstream = await startRecordingServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    });
    servers.push(upstream);
    // The control plane's service (and the verifier's service key) for the slug; the connection comes from the page.
    const native = await stack.sigilum(["service", "add", "relayed", "--mode", "native", "--json"]);
    assert.equal(native.code, 0, native.stderr);
    capture = await startFrameCapture(stack.dashboardUrl);

    await visit(page, `${stack.dashboardUrl}/gateway`, "Gateway", "30-gateway-unpaired");
    await page.getByText("Not paired.").waitFor();
    await pressWithKeyboard(page, "Start pairing");
    const code = page.getByLabel("Pair code");
    await code.waitFor();
    const pairCode = (await code.getAttribute("data-pair-code")) ?? "";
    const sessionId = (await page.getByLabel("Pairing command").getAttribute("data-session")) ?? "";
    assert.match(pairCode, /^[A-HJ-NP-Z2-9]{8}$/);
    await checkPage(page, "31-gateway-pair-code");

    const paired = await stack.sigilum([
      "gateway",
      "pair",
      "--session-id",
      sessionId,
      "--pair-code",
      pairCode,
      "--namespace",
      stack.namespace,
      "--api-url",
      capture.url,
      "--daemon",
      "--json",
    ]);
    assert.equal(paired.code, 0, paired.stderr);
    await page.locator('[data-paired="connected"]').waitFor({ timeout: 30_000 });
    assert.equal(await page.getByLabel("Pair code").count(), 0, "the code is gone once paired");

    await page.getByLabel("Connection id").fill("relayed");
    await page.getByLabel("Provider base URL").fill(upstream.url);
    await page.getByLabel("Provider secret").fill(secret);
    await page.getByRole("button", { name: "Add connection" }).click();
    const row = page.locator('tr[data-connection="relayed"]');
    await row.waitFor({ timeout: 15_000 });
    assert.equal(await page.getByLabel("Provider secret").inputValue(), "", "the secret leaves the form");

    // Another browser signed in as the same owner finds the paired gateway (the sessions are the server's).
    const other = await run.chromium.browser.newContext();
    try {
      const login = await stack.sigilum(["auth", "login", "--open", "--json"]);
      const second = await other.newPage();
      await second.goto(stdoutJson<{ login_url: string }>(login).login_url);
      await second.getByRole("heading", { level: 1, name: "Pending requests" }).waitFor();
      await second.goto(`${stack.dashboardUrl}/gateway`);
      await second.locator('[data-paired="connected"]').waitFor({ timeout: 15_000 });
      await second.locator('tr[data-connection="relayed"]').waitFor({ timeout: 15_000 });
    } finally {
      await other.close();
    }

    await row.getByRole("button", { name: "Test" }).click();
    await page.getByText("Test of relayed passed (HTTP 200)").waitFor({ timeout: 20_000 });
    assert.equal(upstream.requests.at(-1)?.headers.authorization, `Bearer ${secret}`);
    await checkPage(page, "32-gateway-connection");

    // A real agent through the real gateway: claim, approval, then the upstream sees the injected secret.
    const agentRequest = async () =>
      stdoutJson<{ status: number; body: string }>(
        await stack.sigilum(["request", "GET", "/proxy/relayed/v1/data", "--json"]),
      );
    assert.equal((await agentRequest()).status, 403);
    const claim = await until("the pending claim", 20_000, async () => {
      const list = await ownerCall("GET", `/v1/namespaces/${stack.namespace}/claims?status=pending`);
      return (list.body.claims as unknown as { claim_id: string; service: string }[]).find(
        (c) => c.service === "relayed",
      );
    });
    assert.equal((await ownerCall("POST", `/v1/claims/${claim.claim_id}/approve`)).status, 200);
    const answer = await until("the approved request to pass", 20_000, async () => {
      const out = await agentRequest();
      return out.status === 200 ? out : undefined;
    });
    assert.equal(answer.body, '{"ok":true}');
    assert.equal(upstream.requests.at(-1)?.url, "/v1/data");
    assert.equal(upstream.requests.at(-1)?.headers.authorization, `Bearer ${secret}`);

    await page.getByLabel("Connection to rotate").selectOption("relayed");
    await page.getByLabel("New secret").fill(rotated);
    await page.getByRole("button", { name: "Rotate secret" }).click();
    await page.getByText("Secret of relayed rotated").waitFor({ timeout: 15_000 });
    await row.getByRole("button", { name: "Test" }).click();
    await until("the test with the rotated secret", 20_000, async () =>
      upstream.requests.at(-1)?.headers.authorization === `Bearer ${rotated}` ? true : undefined,
    );

    // Neither secret in clear: the control plane's tables, its log, the relay frames, the browser's requests.
    const db = new pg.Client({ connectionString: stack.databaseUrl });
    await db.connect();
    let dump = "";
    try {
      const { rows } = await db.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
      );
      assert.ok(rows.some((r) => r.table_name === "pairing_sessions"));
      for (const { table_name } of rows) {
        dump += JSON.stringify((await db.query(`SELECT * FROM "${table_name}"`)).rows);
      }
    } finally {
      await db.end();
    }
    const logs = await readdir(stack.logDir);
    assert.ok(logs.includes("control-plane.log"), logs.join(", "));
    const cpLog = await readFile(join(stack.logDir, "control-plane.log"), "utf8");
    const frames = capture.frames.join("\n");
    assert.match(
      frames,
      /\\"sealed\\":\\"[A-Za-z0-9+/=]{60,}\\"/,
      "the relay frames carried the sealed secrets",
    );
    assert.match(frames, /\/api\/admin\/connections/);
    for (const value of [secret, rotated]) {
      assert.ok(!dump.includes(value), "not in the control plane's database");
      assert.ok(!cpLog.includes(value), "not in the control plane's log");
      assert.ok(!frames.includes(value), "not in the relay frames");
      assert.ok(!sentBodies.some((b) => b.includes(value)), "not in any request the browser sent");
    }

    await row.getByRole("button", { name: "Delete" }).click();
    await row.getByRole("button", { name: "Confirm delete" }).click();
    await page.getByText("Connection relayed deleted").waitFor({ timeout: 15_000 });
    await row.waitFor({ state: "detached" });
    assert.equal(await page.locator('tr[data-connection="echo"]').count(), 1, "the other connection stays");
  });

  test("dark theme and phone width on the new pages: no axe violations, no sideways scroll", async () => {
    await phoneDarkTour(
      page,
      stack.dashboardUrl,
      [
        ["/webhooks", "Webhooks"],
        ["/gateway", "Gateway"],
      ],
      "-filled",
    );
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: "light" });
    assert.deepEqual(
      cspErrors,
      [],
      "no Content-Security-Policy violation (the vendored sealed-box code included)",
    );
  });

  test("another origin on loopback cannot use the new routes with the owner's session", async () => {
    const services = (await ownerCall("GET", "/v1/services")).body.services as unknown as {
      id: string;
      slug: string;
    }[];
    const echo = services.find((s) => s.slug === "echo")!;
    const hooks = (await ownerCall("GET", `/v1/services/${echo.id}/webhooks`)).body.webhooks as unknown as {
      id: string;
    }[];
    const hook = hooks[0]!.id;
    const deliveries = async () =>
      (
        (await ownerCall("GET", `/v1/services/${echo.id}/webhooks/${hook}/deliveries`)).body
          .pagination as unknown as {
          total: number;
        }
      ).total;
    const before = await deliveries();
    const base = stack.dashboardUrl;
    const targets = [
      ["POST", `${base}/v1/services/${echo.id}/webhooks/${hook}/test`],
      ["GET", `${base}/v1/services/${echo.id}/webhooks/${hook}/deliveries`],
      ["POST", `${base}/v1/services/${echo.id}/webhooks/dead-letters/dl_0000000000000000/redeliver`],
      ["POST", `${base}/v1/gateway/pairing/start`],
      ["GET", `${base}/v1/gateway/pairing/sessions`],
      ["POST", `${base}/v1/gateway/pairing/command`],
    ];
    const attacker = await startRecordingServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<!doctype html><title>attacker</title><script>
        const targets = ${JSON.stringify(targets)};
        window.results = Promise.all(targets.flatMap(([method, url]) => [
          fetch(url, { method, credentials: "include", mode: "no-cors" }).then(() => "sent", () => "blocked"),
          fetch(url, { method, credentials: "include", headers: { "x-sigilum-dashboard": "1", "content-type": "application/json" },
            body: method === "POST" ? "{}" : undefined }).then((r) => url + " status " + r.status, () => "blocked"),
        ]));
      </script>`);
    });
    servers.push(attacker);
    await fromOtherOrigins(context, attacker.url);
    // The no-cors requests reached the server: each was refused before acting.
    await sleep(1500);
    assert.equal(await deliveries(), before, "no test event was queued");
    const sessions = new pg.Client({ connectionString: stack.databaseUrl });
    await sessions.connect();
    try {
      const { rows } = await sessions.query<{ n: string }>("SELECT count(*) AS n FROM pairing_sessions");
      assert.equal(Number(rows[0]!.n), 1, "no pairing session was started");
    } finally {
      await sessions.end();
    }
    await screenshot(page, "40-after-cross-site");
  });
});
