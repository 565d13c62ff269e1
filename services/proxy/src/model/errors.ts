import { GatewayError } from "@sigilum-gw/shared/errors";

/**
 * Shorthands for the errors handlers and stages throw. Every error carries a catalogue code: the reference's
 * code-less 400/404/409 answers map to INVALID_REQUEST, CONNECTION_NOT_FOUND/NOT_FOUND and CONNECTION_EXISTS
 * with the reference's message text.
 */
export const badRequest = (message: string) => new GatewayError("INVALID_REQUEST", message);
export const connectionNotFound = (message = "connection not found") =>
  new GatewayError("CONNECTION_NOT_FOUND", message);
export const notFound = (message: string) => new GatewayError("NOT_FOUND", message);
export const connectionExists = () => new GatewayError("CONNECTION_EXISTS", "connection already exists");

export { GatewayError };
