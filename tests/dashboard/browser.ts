import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's Chromium (`apt-get install chromium`; `.ci/run` installs it); CHROMIUM_PATH overrides. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Screenshots of every page, kept after the run (gitignored). */
export const ARTIFACTS_DIR = new URL("../../test-artifacts/dashboard/", import.meta.url).pathname;

export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

/**
 * Headless Chromium with nothing running in the background. playwright-core gives every launch a fresh temporary
 * profile (its own --user-data-dir, removed on close; it refuses the flag in `args`).
 */
export async function launchChromium(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH)`,
    );
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    browser,
    close: () => browser.close(),
  };
}

export interface VirtualAuthenticator {
  /** Swaps in a new authenticator (a second device: the first one refuses to register twice for one account). */
  replace(): Promise<void>;
}

/** Chromium's virtual authenticator (DevTools protocol): a platform passkey that always says yes. */
export async function addVirtualAuthenticator(
  context: BrowserContext,
  page: Page,
): Promise<VirtualAuthenticator> {
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const add = async () =>
    (
      await cdp.send("WebAuthn.addVirtualAuthenticator", {
        options: {
          protocol: "ctap2",
          transport: "internal",
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          automaticPresenceSimulation: true,
        },
      })
    ).authenticatorId;
  let id = await add();
  return {
    async replace() {
      await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: id });
      id = await add();
    },
  };
}

const axeSource = readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/**
 * Runs axe-core in the page; returns the serious and critical violations. axe is evaluated through the DevTools
 * protocol, not as a script tag, so the dashboard's CSP (no inline script) stays on during the check.
 */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(await axeSource);
  const violations = (await page.evaluate(
    "axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations)",
  )) as AxeViolation[];
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });
}

/** Opens a page of the dashboard, waits for its heading, checks it with axe-core and keeps a screenshot. */
export async function visit(page: Page, url: string, heading: string, shot: string): Promise<void> {
  await page.goto(url);
  await page.getByRole("heading", { level: 1, name: heading }).waitFor();
  await checkPage(page, shot);
}

/**
 * Each of `pages` ([path, heading]) at phone width in the dark scheme: visited (axe-clean, screenshot
 * `phone-dark-<page><shotSuffix>`) and never scrolling sideways.
 */
export async function phoneDarkTour(
  page: Page,
  base: string,
  pages: readonly (readonly [path: string, heading: string])[],
  shotSuffix = "",
): Promise<void> {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.emulateMedia({ colorScheme: "dark" });
  for (const [path, heading] of pages) {
    await visit(page, `${base}${path}`, heading, `phone-dark${path.replace("/", "-")}${shotSuffix}`);
    const overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth");
    assert.ok(Number(overflow) <= 0, `${path}: page does not scroll sideways (${overflow}px)`);
  }
}

/** axe-core (no serious violations) on what the page shows now, and a screenshot of it. */
export async function checkPage(page: Page, shot: string): Promise<void> {
  const violations = await seriousViolations(page);
  assert.deepEqual(
    violations.map((v) => `${v.id}: ${v.help} (${JSON.stringify(v.nodes.map((n) => n.target))})`),
    [],
    `axe: no serious violations on ${page.url()}`,
  );
  await screenshot(page, shot);
}

/**
 * Opens `attackerUrl`'s page from the two other origins a loopback attacker has: `localhost:<its port>` (the same
 * site as a dashboard on localhost, so SameSite cookies are sent) and `127.0.0.1:<its port>` (another site). Each
 * page's `window.results` (its fetches' outcomes) must be only "sent" (an opaque no-cors request) or "blocked";
 * `more` runs further checks on the page before it closes.
 */
export async function fromOtherOrigins(
  context: BrowserContext,
  attackerUrl: string,
  more: (evil: Page, origin: string) => Promise<void> = async () => {},
): Promise<void> {
  const port = new URL(attackerUrl).port;
  for (const origin of [`http://localhost:${port}`, `http://127.0.0.1:${port}`]) {
    const evil = await context.newPage();
    try {
      await evil.goto(`${origin}/`);
      const results = (await evil.evaluate("window.results")) as string[];
      assert.ok(
        results.every((r) => r === "sent" || r === "blocked"),
        `${origin}: ${results.join(", ")}`,
      );
      await more(evil, origin);
    } finally {
      await evil.close();
    }
  }
}
