/** Namespace-owner JWTs (HS256), shared by the control plane (verifies) and the CLI (mints in local mode). */
export * from "./owner-token/jwt.ts";
export * from "./owner-token/secret-file.ts";
