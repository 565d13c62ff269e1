import { randomUUID } from "node:crypto";
import { Router } from "express";
import { z } from "zod";
import { requireOwner } from "../auth/owner-auth.ts";
import { createLoginLink, redeemLoginLink, redeemSchema } from "../dashboard/login-links.ts";
import { dashboardBaseUrl } from "../dashboard/origin.ts";
import {
  deletePasskey,
  findPasskey,
  insertPasskey,
  listPasskeys,
  ownerPasskeys,
  passkeyDescriptors,
  passkeyNameSchema,
  recordPasskeyUse,
  renamePasskey,
  renameSchema,
} from "../dashboard/passkeys.ts";
import { startSession } from "../dashboard/session.ts";
import {
  authenticationOptions,
  authenticationResponseSchema,
  consumeChallenge,
  registrationOptions,
  registrationResponseSchema,
  verifyAuthentication,
  verifyRegistration,
} from "../dashboard/webauthn.ts";
import { type Db, isUniqueViolation, type Queryable } from "../db/db.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError } from "../http/errors.ts";
import { pageSchema } from "../http/pagination.ts";
import { parseBody, parseQuery } from "../http/validate.ts";
import { presentOwner } from "../owners/account.ts";
import { findOwnerByNamespace, NAMESPACE_STRICT_RE, type Owner } from "../owners/owners.ts";

const addPasskeySchema = z
  .object({ name: passkeyNameSchema.optional(), credential: registrationResponseSchema })
  .strict();
const loginSchema = z.object({ credential: authenticationResponseSchema }).strict();
const signupIdentitySchema = z.object({
  email: z.string().trim().toLowerCase().email().max(320),
  namespace: z.string().trim().regex(NAMESPACE_STRICT_RE, "namespace: 3-64 of a-z, 0-9 and -"),
});
const signupSchema = signupIdentitySchema
  .extend({ passkeyName: passkeyNameSchema.optional(), credential: registrationResponseSchema })
  .strict();
const passkeysQuerySchema = z.object(pageSchema(50, 200));

/** Only owners created by passkey sign-up lack the CLI's login link as a way back in. */
const signedUpWithPasskey = (owner: Owner) => !owner.id.startsWith("user_local_");

async function userBody(db: Db, owner: Owner) {
  return { user: presentOwner(owner, await ownerPasskeys(db, owner.id)) };
}

/**
 * Dashboard sign-in: one-time login links (minted for the CLI), passkeys (WebAuthn: add, list, rename, delete,
 * sign in) and, when DASHBOARD_SIGNUP is on, passkey sign-up of a new namespace (reference §A.10).
 */
export function dashboardAuthRouter(deps: AppDeps): Router {
  const r = Router();
  const { db } = deps;

  r.post("/v1/auth/login-links", async (req, res) => {
    const owner = await requireOwner(req, deps);
    const link = await createLoginLink(db, owner, deps.config.dashboard.loginLinkSeconds);
    res.status(201).json({
      url: `${dashboardBaseUrl(req, deps.config)}/login#link=${link.token}`,
      expires_at: link.expiresAt.toISOString(),
    });
  });

  r.post("/v1/auth/login-links/redeem", async (req, res) => {
    const { token } = parseBody(req, redeemSchema);
    const owner = await redeemLoginLink(db, token);
    if (!owner) throw new ApiError("LOGIN_LINK_INVALID", "Login link is unknown, used or expired");
    await startSession(req, res, deps, owner);
    res.json(await userBody(db, owner));
  });

  r.get("/v1/auth/login/options", async (req, res) => {
    res.json(await authenticationOptions(req, deps));
  });

  r.post("/v1/auth/login", async (req, res) => {
    const { credential } = parseBody(req, loginSchema);
    const { challenge } = await consumeChallenge(db, credential.response.clientDataJSON, "authentication");
    const passkey = await findPasskey(db, credential.id);
    if (!passkey) throw new ApiError("CREDENTIAL_NOT_FOUND", "Passkey not registered");
    const counter = await verifyAuthentication(req, deps, credential, challenge, passkey);
    await recordPasskeyUse(db, passkey.id, counter);
    const owner = await ownerById(db, passkey.user_id);
    await startSession(req, res, deps, owner);
    res.json(await userBody(db, owner));
  });

  r.get("/v1/auth/passkeys/options", async (req, res) => {
    const owner = await requireOwner(req, deps);
    res.json(await registrationOptions(req, deps, owner, "passkey", await passkeyDescriptors(db, owner.id)));
  });

  r.post("/v1/auth/passkeys", async (req, res) => {
    const owner = await requireOwner(req, deps);
    const body = parseBody(req, addPasskeySchema);
    const stored = await consumeChallenge(db, body.credential.response.clientDataJSON, "passkey");
    if (stored.user_id !== owner.id)
      throw new ApiError("CHALLENGE_EXPIRED", "Challenge was issued to another owner");
    const info = await verifyRegistration(req, deps, body.credential, stored.challenge);
    const name = body.name ?? "My Passkey";
    await savePasskey(db, owner.id, info, name);
    res.status(201).json({ success: true, id: info.credential.id, name });
  });

  r.get("/v1/auth/passkeys", async (req, res) => {
    const owner = await requireOwner(req, deps);
    res.json(await listPasskeys(db, owner.id, parseQuery(req, passkeysQuerySchema)));
  });

  r.patch("/v1/auth/passkeys/:id", async (req, res) => {
    const owner = await requireOwner(req, deps);
    const { name } = parseBody(req, renameSchema);
    res.json(await renamePasskey(db, owner.id, req.params.id, name));
  });

  r.delete("/v1/auth/passkeys/:id", async (req, res) => {
    const owner = await requireOwner(req, deps);
    res.json(await deletePasskey(db, owner.id, req.params.id, signedUpWithPasskey(owner)));
  });

  r.get("/v1/auth/signup/options", async (req, res) => {
    requireSignup(deps);
    const who = parseQuery(req, signupIdentitySchema);
    await assertFree(db, who);
    const user = { id: randomUUID(), ...who };
    res.json(await registrationOptions(req, deps, user, "registration", []));
  });

  r.post("/v1/auth/signup", async (req, res) => {
    requireSignup(deps);
    const body = parseBody(req, signupSchema);
    const stored = await consumeChallenge(db, body.credential.response.clientDataJSON, "registration");
    if (stored.email !== body.email || stored.namespace !== body.namespace) {
      throw new ApiError("CHALLENGE_EXPIRED", "Challenge was issued for another email or namespace");
    }
    const info = await verifyRegistration(req, deps, body.credential, stored.challenge);
    await assertFree(db, body);
    const owner = await createSignedUpOwner(db, body, info, body.passkeyName ?? "My Passkey");
    await startSession(req, res, deps, owner);
    res.status(201).json(await userBody(db, owner));
  });

  return r;
}

type RegistrationInfo = Awaited<ReturnType<typeof verifyRegistration>>;

function savePasskey(db: Queryable, userId: string, info: RegistrationInfo, name: string) {
  return insertPasskey(db, {
    id: info.credential.id,
    userId,
    publicKey: info.credential.publicKey,
    counter: info.credential.counter,
    deviceType: info.credentialDeviceType,
    backedUp: info.credentialBackedUp,
    transports: info.credential.transports ?? [],
    name,
  }).catch((err: unknown) => {
    if (isUniqueViolation(err)) throw new ApiError("CONFLICT", "This passkey is already registered");
    throw err;
  });
}

function requireSignup(deps: AppDeps): void {
  if (!deps.config.dashboard.signup) {
    throw new ApiError(
      "SIGNUP_DISABLED",
      "Sign-up is off; ask the operator for a login link (sigilum auth login --open)",
    );
  }
}

async function assertFree(db: Db, who: { email: string; namespace: string }): Promise<void> {
  const { rows } = await db.query<{ email: string; namespace: string }>(
    "SELECT email, namespace FROM users WHERE namespace = $1 OR lower(email) = $2",
    [who.namespace, who.email],
  );
  if (rows.some((r) => r.namespace === who.namespace)) {
    throw new ApiError("NAMESPACE_ALREADY_REGISTERED", "Namespace already registered");
  }
  if (rows.length > 0) throw new ApiError("EMAIL_ALREADY_REGISTERED", "Email already registered");
}

async function createSignedUpOwner(
  db: Db,
  who: { email: string; namespace: string },
  info: RegistrationInfo,
  passkeyName: string,
): Promise<Owner> {
  try {
    await db.transaction(async (tx) => {
      await tx.query("INSERT INTO users (id, email, namespace) VALUES ($1, $2, $3)", [
        randomUUID(),
        who.email,
        who.namespace,
      ]);
      const owner = await findOwnerByNamespace(tx, who.namespace);
      await savePasskey(tx, owner!.id, info, passkeyName);
    });
  } catch (err) {
    if (isUniqueViolation(err))
      throw new ApiError("NAMESPACE_ALREADY_REGISTERED", "Namespace or email already registered");
    throw err;
  }
  return (await findOwnerByNamespace(db, who.namespace))!;
}

async function ownerById(db: Db, userId: string): Promise<Owner> {
  const { rows } = await db.query<{ namespace: string }>("SELECT namespace FROM users WHERE id = $1", [
    userId,
  ]);
  const owner = rows[0] ? await findOwnerByNamespace(db, rows[0].namespace) : undefined;
  if (!owner) throw new ApiError("USER_NOT_FOUND", "The passkey's owner no longer exists");
  return owner;
}
