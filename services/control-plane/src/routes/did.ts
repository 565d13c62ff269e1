import { Router } from "express";
import { targetUriOf } from "../auth/signed-request.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { resolveDid } from "../owners/did.ts";

const RESOLUTION_TYPE = 'application/ld+json;profile="https://w3id.org/did-resolution"';

/** Public DID documents (unsigned): `/.well-known/did/:did` and the universal-resolver `/1.0/identifiers/:did`. */
export function didRouter(deps: AppDeps): Router {
  const r = Router();
  const origin = (req: Parameters<typeof targetUriOf>[0]) => new URL(targetUriOf(req, deps.signed)).origin;

  r.get("/.well-known/did/:did", async (req, res) => {
    const result = await resolveDid(deps.db, req.params.did, origin(req));
    if (!result.ok) {
      throw result.error === "invalidDid"
        ? new ApiError("VALIDATION_ERROR", result.message)
        : notFound(result.message);
    }
    res.setHeader("Cache-Control", "public, max-age=300");
    res.type("application/did+ld+json").send(JSON.stringify(result.document));
  });

  r.get("/1.0/identifiers/:did", async (req, res) => {
    const result = await resolveDid(deps.db, req.params.did, origin(req));
    const envelope = result.ok
      ? {
          "@context": "https://w3id.org/did-resolution/v1",
          didDocument: result.document,
          didDocumentMetadata: result.metadata,
          didResolutionMetadata: { contentType: "application/did+ld+json" },
        }
      : {
          "@context": "https://w3id.org/did-resolution/v1",
          didDocument: null,
          didDocumentMetadata: {},
          didResolutionMetadata: { error: result.error, message: result.message },
        };
    if (result.ok) res.setHeader("Cache-Control", "public, max-age=300");
    res
      .status(result.ok ? 200 : result.error === "invalidDid" ? 400 : 404)
      .type(RESOLUTION_TYPE)
      .send(JSON.stringify(envelope));
  });

  return r;
}
