import { Router } from "express";
import { requireOwner } from "../auth/owner-auth.ts";
import { ownerPasskeys } from "../dashboard/passkeys.ts";
import type { AppDeps } from "../deps.ts";
import { parseBody } from "../http/validate.ts";
import { deleteAccount, presentOwner, settingsPatchSchema, updateSettings } from "../owners/account.ts";

const CLEAR_COOKIE = "sigilum_token=; HttpOnly; Path=/; Max-Age=0; SameSite=Lax";

/**
 * /v1/auth*: the owner-JWT routes of the reference dashboard API. Dashboard sign-in (login links, passkeys,
 * sign-up) is routes/dashboard-auth.ts.
 */
export function authRouter(deps: AppDeps): Router {
  const r = Router();

  r.get("/v1/auth/me", async (req, res) => {
    const owner = await requireOwner(req, deps);
    res.json(presentOwner(owner, await ownerPasskeys(deps.db, owner.id)));
  });

  r.patch("/v1/auth/settings", async (req, res) => {
    const owner = await requireOwner(req, deps);
    const patch = parseBody(req, settingsPatchSchema);
    res.json(await updateSettings(deps.db, owner, patch));
  });

  r.delete("/v1/auth/account", async (req, res) => {
    const owner = await requireOwner(req, deps);
    const slugs = await deleteAccount(deps.db, owner);
    for (const slug of slugs) await deps.events.claimsChanged(slug);
    res.setHeader("Set-Cookie", CLEAR_COOKIE);
    res.json({ success: true, message: "Account and all associated data have been permanently deleted." });
  });

  r.post("/v1/auth/logout", (_req, res) => {
    res.setHeader("Set-Cookie", CLEAR_COOKIE);
    res.json({ success: true });
  });

  return r;
}
