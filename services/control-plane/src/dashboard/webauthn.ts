import type { ControlPlaneCode } from "@sigilum-gw/shared/errors";
import { hostNameOf } from "@sigilum-gw/shared/host-allowlist";
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import type { Request } from "express";
import { z } from "zod";
import type { Queryable } from "../db/db.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError } from "../http/errors.ts";
import { ownOrigin } from "./origin.ts";
import type { StoredPasskey } from "./passkeys.ts";

/** Loaded on the first passkey call: most control-plane processes (gateways' feed, tests) never need it. */
let library: Promise<typeof import("@simplewebauthn/server")> | undefined;
const webauthn = () => {
  library ??= import("@simplewebauthn/server");
  return library;
};

/** A challenge is good for this long, then the ceremony must start again. */
const CHALLENGE_TTL_SECONDS = 300;

export type ChallengeType = "registration" | "authentication" | "passkey";

const b64url = z
  .string()
  .max(16_384)
  .regex(/^[A-Za-z0-9_-]*={0,2}$/, "expected base64url");

/** A credential as the browser sends it: the ceremony's own `response` fields inside the common frame. */
const credentialSchema = <R extends z.ZodRawShape>(response: R) =>
  z.object({
    id: b64url.min(1).max(1024),
    rawId: b64url.min(1).max(1024),
    type: z.literal("public-key"),
    response: z.object(response),
    authenticatorAttachment: z.string().max(32).optional(),
    clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  });

export const registrationResponseSchema = credentialSchema({
  clientDataJSON: b64url,
  attestationObject: b64url,
  transports: z.array(z.string().max(32)).max(8).optional(),
  authenticatorData: b64url.optional(),
  publicKey: b64url.optional(),
  publicKeyAlgorithm: z.number().int().optional(),
});

export const authenticationResponseSchema = credentialSchema({
  clientDataJSON: b64url,
  authenticatorData: b64url,
  signature: b64url,
  userHandle: b64url.optional(),
});

/** The relying party is the dashboard's own origin: its host name is the RP id. */
export function relyingParty(req: Request, deps: AppDeps): { rpID: string; origin: string } {
  const rpID = hostNameOf(req.headers.host ?? "");
  if (!rpID) throw new ApiError("BAD_REQUEST", "Missing Host header");
  return { rpID, origin: ownOrigin(req, deps.config) };
}

async function storeChallenge(
  db: Queryable,
  challenge: string,
  type: ChallengeType,
  who: { userId?: string; email?: string; namespace?: string },
): Promise<void> {
  await db.query(
    "DELETE FROM webauthn_challenges WHERE created_at < now() - ($1::integer * interval '1 second')",
    [CHALLENGE_TTL_SECONDS],
  );
  await db.query(
    "INSERT INTO webauthn_challenges (challenge, type, user_id, email, namespace) VALUES ($1, $2, $3, $4, $5)",
    [challenge, type, who.userId ?? null, who.email ?? null, who.namespace ?? null],
  );
}

function challengeOf(clientDataJSON: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(clientDataJSON, "base64url").toString("utf8")) as {
      challenge?: unknown;
    };
    if (typeof parsed.challenge === "string" && parsed.challenge.length > 0) return parsed.challenge;
  } catch {}
  throw new ApiError("INVALID_CREDENTIAL", "clientDataJSON is not valid");
}

/** Takes the challenge the response answers out of the store (one use); 400 CHALLENGE_EXPIRED when it is not there. */
export async function consumeChallenge(
  db: Queryable,
  clientDataJSON: string,
  type: ChallengeType,
): Promise<{ challenge: string; user_id: string | null; email: string | null; namespace: string | null }> {
  const challenge = challengeOf(clientDataJSON);
  const { rows } = await db.query<{ user_id: string | null; email: string | null; namespace: string | null }>(
    `DELETE FROM webauthn_challenges WHERE challenge = $1 AND type = $2
        AND created_at > now() - ($3::integer * interval '1 second')
      RETURNING user_id, email, namespace`,
    [challenge, type, CHALLENGE_TTL_SECONDS],
  );
  if (!rows[0]) throw new ApiError("CHALLENGE_EXPIRED", "Challenge expired or unknown; start again");
  return { challenge, ...rows[0] };
}

export async function registrationOptions(
  req: Request,
  deps: AppDeps,
  user: { id: string; email: string; namespace: string },
  type: "registration" | "passkey",
  exclude: { id: string; transports: string[] }[],
) {
  const { rpID } = relyingParty(req, deps);
  const { generateRegistrationOptions } = await webauthn();
  const options = await generateRegistrationOptions({
    rpName: "Sigilum",
    rpID,
    userName: user.email,
    userDisplayName: user.namespace,
    userID: new TextEncoder().encode(user.id),
    attestationType: "none",
    excludeCredentials: exclude.map((c) => ({ id: c.id, transports: c.transports as never })),
    authenticatorSelection: { residentKey: "preferred", userVerification: "preferred" },
    supportedAlgorithmIDs: [-8, -7, -257],
  });
  await storeChallenge(deps.db, options.challenge, type, {
    userId: type === "passkey" ? user.id : undefined,
    email: user.email,
    namespace: user.namespace,
  });
  return options;
}

export async function authenticationOptions(req: Request, deps: AppDeps) {
  const { rpID } = relyingParty(req, deps);
  const { generateAuthenticationOptions } = await webauthn();
  const options = await generateAuthenticationOptions({ rpID, userVerification: "preferred" });
  await storeChallenge(deps.db, options.challenge, "authentication", {});
  return options;
}

/** What each verification expects of the ceremony: this challenge, from this dashboard. */
interface Expected {
  expectedChallenge: string;
  expectedOrigin: string;
  expectedRPID: string;
  requireUserVerification: false;
}

/**
 * Runs one verification of @simplewebauthn/server; undefined from `verify` (not verified) or a throw is logged as
 * `refusal.log` and answered with the refusal's error.
 */
async function verifyOrRefuse<T>(
  req: Request,
  deps: AppDeps,
  challenge: string,
  refusal: { log: string; code: ControlPlaneCode; message: string },
  verify: (library: typeof import("@simplewebauthn/server"), expected: Expected) => Promise<T | undefined>,
): Promise<T> {
  const { rpID, origin } = relyingParty(req, deps);
  try {
    const outcome = await verify(await webauthn(), {
      expectedChallenge: challenge,
      expectedOrigin: origin,
      expectedRPID: rpID,
      requireUserVerification: false,
    });
    if (outcome !== undefined) return outcome;
  } catch (err) {
    deps.log.info({ err: (err as Error).message }, refusal.log);
  }
  throw new ApiError(refusal.code, refusal.message);
}

/** Verifies a registration against its consumed challenge; 400 VERIFICATION_FAILED when it does not hold. */
export function verifyRegistration(
  req: Request,
  deps: AppDeps,
  response: z.output<typeof registrationResponseSchema>,
  challenge: string,
) {
  return verifyOrRefuse(
    req,
    deps,
    challenge,
    {
      log: "passkey registration refused",
      code: "VERIFICATION_FAILED",
      message: "Passkey registration could not be verified",
    },
    async ({ verifyRegistrationResponse }, expected) => {
      const result = await verifyRegistrationResponse({
        response: response as RegistrationResponseJSON,
        ...expected,
      });
      return result.verified ? result.registrationInfo : undefined;
    },
  );
}

/** Verifies an assertion with the stored passkey; returns the new signature counter. */
export function verifyAuthentication(
  req: Request,
  deps: AppDeps,
  response: z.output<typeof authenticationResponseSchema>,
  challenge: string,
  passkey: StoredPasskey,
): Promise<number> {
  return verifyOrRefuse(
    req,
    deps,
    challenge,
    {
      log: "passkey sign-in refused",
      code: "PASSKEY_SIGN_IN_FAILED",
      message: "Passkey sign-in could not be verified",
    },
    async ({ verifyAuthenticationResponse }, expected) => {
      const result = await verifyAuthenticationResponse({
        response: response as AuthenticationResponseJSON,
        ...expected,
        credential: {
          id: passkey.id,
          publicKey: passkey.public_key as Uint8Array<ArrayBuffer>,
          counter: passkey.counter,
          transports: passkey.transports as never,
        },
      });
      return result.verified ? result.authenticationInfo.newCounter : undefined;
    },
  );
}
