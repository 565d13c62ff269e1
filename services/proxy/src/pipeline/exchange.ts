import type { IncomingMessage } from "node:http";
import type { AuthzTokenFailure } from "@sigilum-gw/shared/authz-token";
import type { Stage } from "@sigilum-gw/shared/stage";
import type { Answer } from "../http/answer-client.ts";
import type { Protocol } from "../model/connection/types.ts";
import type { AuthorizedIdentity, Authorizer } from "./authorize.ts";
import type { ConnectionResolver, ResolvedConnection } from "./resolve.ts";

/** What flows through the proxy's runtime stages (run.ts), and what every stage may use. */

/** A runtime request as data, read before any stage runs. */
export interface GatewayRequest {
  /** The request stream: its headers go to the verifier, its body is read by the body stage. */
  req: IncomingMessage;
  requestId: string;
  method: string;
  /** Raw request-target (path + query) as received. */
  target: string;
  /** The scheme the agent used, as the edge sees it (Envoy sets x-forwarded-proto itself). */
  scheme: "http" | "https";
  clientIp: string;
  connectionId: string;
  /** Which kind of connection the route serves. */
  protocol: Protocol;
  /** A path segment holds an encoded `/` or `\`: served only by connections that allow it. */
  encodedSeparator: boolean;
}

/** Body read (bounded). */
export interface Admitted {
  request: GatewayRequest;
  body: Buffer | null;
}

/** The verifier's token checked; identity null for the verifier's unsigned (development bypass) allow. */
export interface Authorized extends Admitted {
  identity: AuthorizedIdentity | null;
}

/** The connection loaded, its credential resolved. */
export interface Resolved extends Authorized {
  connection: ResolvedConnection;
}

/** Why a forward produced no answer. */
export type ForwardFailure = "timeout" | "unreachable" | "client_closed" | "forbidden_address";

/** Who was refused and why, beyond the code: for the answer (a relayed verifier answer) and the log. */
export interface ProxyDetail {
  /** Known once authorized: a later denial still names the agent (log, usage event). */
  identity?: AuthorizedIdentity | null;
  tokenFailure?: AuthzTokenFailure;
  /** Inline mode: the verifier's own denial, relayed to the agent as is. */
  relayed?: Answer;
  /** The forward failed before an answer reached the agent. */
  forward?: { failure: ForwardFailure; error: Error; durationMs: number };
}

export interface ProxyContext {
  authorizer: Authorizer;
  resolver: ConnectionResolver;
  maxBodyBytes: number;
}

export type ProxyStage<I, O> = Stage<I, O, ProxyContext, ProxyDetail>;
