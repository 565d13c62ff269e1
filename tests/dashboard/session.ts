import type { BrowserContext, Page } from "playwright-core";
import { launchChromium, type TestBrowser } from "./browser.ts";
import { type DashboardStack, startDashboardStack } from "./stack.ts";

/** The local stack and a Chromium page, started side by side; the page's CSP violations are collected. */
export interface DashboardRun {
  stack: DashboardStack;
  chromium: TestBrowser;
  context: BrowserContext;
  page: Page;
  /** Console messages about a Content-Security-Policy violation (a test asserts there are none). */
  cspErrors: string[];
  stop(): Promise<void>;
}

export async function startDashboardRun(env: Record<string, string> = {}): Promise<DashboardRun> {
  const [started, launched] = await Promise.allSettled([startDashboardStack(env), launchChromium()]);
  const stop = async () => {
    if (launched.status === "fulfilled") await launched.value.close();
    if (started.status === "fulfilled") await started.value.stop();
  };
  if (started.status === "rejected" || launched.status === "rejected") {
    await stop();
    throw started.status === "rejected" ? started.reason : (launched as PromiseRejectedResult).reason;
  }
  const chromium = launched.value;
  const context = await chromium.browser.newContext();
  const page = await context.newPage();
  const cspErrors: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
  });
  return { stack: started.value, chromium, context, page, cspErrors, stop };
}
