import type { Request } from "express";
import type { Config } from "../config.ts";

/** What the dashboard needs from the configuration to know its own origin. */
export type OriginConfig = Pick<Config, "publicUrl" | "trustProxy">;

/** The origin the browser is on: CONTROL_PLANE_PUBLIC_URL's scheme when set, else http (https behind a trusted proxy). */
export function ownOrigin(req: Request, config: OriginConfig): string {
  const forwarded = config.trustProxy ? req.headers["x-forwarded-proto"] : undefined;
  const scheme = forwarded === "https" || config.publicUrl?.startsWith("https:") ? "https" : "http";
  return `${scheme}://${(req.headers.host ?? "").toLowerCase()}`;
}

/**
 * Where a login link should send the browser: the public URL when set, else the origin the CLI called, with a
 * loopback IP written as `localhost` (WebAuthn refuses IP addresses as relying-party ids).
 */
export function dashboardBaseUrl(req: Request, config: OriginConfig): string {
  if (config.publicUrl) return new URL(config.publicUrl).origin;
  const url = new URL(ownOrigin(req, config));
  if (url.hostname === "127.0.0.1" || url.hostname === "[::1]") url.hostname = "localhost";
  return url.origin;
}
