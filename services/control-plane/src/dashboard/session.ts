import { mintOwnerToken } from "@sigilum-gw/shared/owner-token";
import type { Request, Response } from "express";
import { OWNER_COOKIE } from "../auth/owner-auth.ts";
import type { AppDeps } from "../deps.ts";
import type { Owner } from "../owners/owners.ts";
import { ownOrigin } from "./origin.ts";

/**
 * Starts a dashboard session: an owner JWT in an `HttpOnly; SameSite=Strict` cookie, never in a body, so page
 * script cannot read it and no other site's request carries it.
 */
export async function startSession(req: Request, res: Response, deps: AppDeps, owner: Owner): Promise<void> {
  const ttl = deps.config.dashboard.sessionSeconds;
  const token = await mintOwnerToken({
    namespace: owner.namespace,
    email: owner.email,
    userId: owner.id,
    secret: deps.jwtSecret,
    ttlSeconds: ttl,
  });
  const secure = ownOrigin(req, deps.config).startsWith("https:") ? "; Secure" : "";
  res.setHeader(
    "Set-Cookie",
    `${OWNER_COOKIE}=${token}; HttpOnly; Path=/; Max-Age=${ttl}; SameSite=Strict${secure}`,
  );
}
