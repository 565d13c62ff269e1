import { type SignedRequest, signRequest } from "@sigilum-gw/shared/http-signatures";
import type { SigilumIdentity } from "@sigilum-gw/shared/identity";
import { loadIdentity } from "./environment.ts";

type HeadersInit = ConstructorParameters<typeof Headers>[0];

/** A request body the signer can hash: the exact bytes sent are the bytes signed. */
export type SignableBody = string | Uint8Array | ArrayBuffer | URLSearchParams | null | undefined;

export interface SignInput {
  url: string | URL;
  method?: string;
  headers?: HeadersInit;
  body?: SignableBody;
  /** Who the agent acts for (`sigilum-subject`); defaults to the namespace. */
  subject?: string;
}

export type SigilumFetchInit = Omit<RequestInit, "body"> & { body?: SignableBody; subject?: string };

export interface SigilumClient {
  readonly namespace: string;
  readonly did: string;
  readonly keyId: string;
  readonly publicKey: string;
  /** Signs a request and returns what to send: send exactly `url`, `method`, `headers` and `body`. */
  sign(request: SignInput): SignedRequest;
  /** Signs and sends the request with the global fetch. Redirects are not followed (the signature binds the URL). */
  fetch(url: string | URL, init?: SigilumFetchInit): Promise<Response>;
}

export interface CreateClientOptions {
  namespace?: string;
  homeDir?: string;
  /** An identity already in memory (skips the identity files). */
  identity?: SigilumIdentity;
  /** Replaces the global fetch (tests, custom agents). */
  fetchImpl?: typeof fetch;
}

function headerRecord(headers: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, value] of new Headers(headers).entries()) out[name] = value;
  return out;
}

function bodyBytes(
  body: SignableBody,
  headers: Record<string, string>,
): string | Uint8Array | ArrayBuffer | null {
  if (body === undefined || body === null) return null;
  if (body instanceof URLSearchParams) {
    headers["content-type"] ??= "application/x-www-form-urlencoded;charset=UTF-8";
    return body.toString();
  }
  if (typeof body === "string" || body instanceof Uint8Array || body instanceof ArrayBuffer) return body;
  throw new TypeError(
    "Sigilum requests need a body the signer can hash: string, Uint8Array, ArrayBuffer or URLSearchParams " +
      "(streams, Blob and FormData are not supported)",
  );
}

/** Builds a client around an identity that is already loaded. */
export function clientForIdentity(identity: SigilumIdentity, fetchImpl: typeof fetch = fetch): SigilumClient {
  function sign(request: SignInput): SignedRequest {
    const headers = headerRecord(request.headers);
    const body = bodyBytes(request.body, headers);
    return signRequest(identity, {
      url: String(request.url),
      method: request.method,
      headers,
      body,
      subject: request.subject,
    });
  }

  async function sigilumFetch(url: string | URL, init: SigilumFetchInit = {}): Promise<Response> {
    const { subject, body, headers, method, ...rest } = init;
    const signed = sign({ url, method, headers, body, subject });
    return fetchImpl(signed.url, {
      redirect: "manual",
      ...rest,
      method: signed.method,
      headers: signed.headers,
      body: signed.body,
    });
  }

  return {
    namespace: identity.namespace,
    did: identity.did,
    keyId: identity.keyId,
    publicKey: identity.publicKey,
    sign,
    fetch: sigilumFetch,
  };
}

/**
 * Loads the agent identity (explicit namespace, else $SIGILUM_NAMESPACE, else the only identity in the home)
 * and returns a client that signs every request with it.
 */
export async function createSigilumClient(options: CreateClientOptions = {}): Promise<SigilumClient> {
  const identity =
    options.identity ?? (await loadIdentity({ namespace: options.namespace, homeDir: options.homeDir }));
  return clientForIdentity(identity, options.fetchImpl);
}
