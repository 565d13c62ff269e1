import express, { type RequestHandler, Router } from "express";
import { ASSETS_DIR, loadDashboardAssets, VENDOR_DIRS } from "../dashboard/assets.ts";

/** Paths the single page answers; the page's router shows the right view. */
export const DASHBOARD_PAGES = [
  "/",
  "/login",
  "/approvals",
  "/agents",
  "/history",
  "/services",
  "/usage",
  "/passkeys",
  "/webhooks",
  "/gateway",
];

/** No inline script or style, nothing from another origin, no framing, forms only to ourselves. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const staticOptions = {
  index: false,
  dotfiles: "ignore",
  // The URL changes with the content (assets.ts), so a copy never goes stale.
  setHeaders: (res: { setHeader(name: string, value: string): unknown }) =>
    res.setHeader("Cache-Control", "public, max-age=31536000, immutable"),
} as const;

const scriptsOnly: RequestHandler = (req, _res, next) => {
  if (req.path.endsWith(".js")) next();
  else next("router");
};

/** `GET /` and the other pages (HTML shell, never cached), and `/assets/<content hash>/...` (cached a year). */
export function dashboardPagesRouter(): Router {
  const r = Router();
  const assets = loadDashboardAssets();
  const base = `/assets/${assets.version}`;
  for (const [name, dir] of Object.entries(VENDOR_DIRS)) {
    r.use(`${base}/vendor/${name}`, scriptsOnly, express.static(dir, staticOptions));
  }
  r.use(base, express.static(ASSETS_DIR, staticOptions));
  r.get(DASHBOARD_PAGES, (_req, res) => {
    res.setHeader("Content-Security-Policy", DASHBOARD_CSP);
    res.setHeader("X-Frame-Options", "DENY");
    res.setHeader("Referrer-Policy", "no-referrer");
    res.setHeader("Cache-Control", "no-cache");
    res.type("html").send(assets.indexHtml);
  });
  return r;
}
