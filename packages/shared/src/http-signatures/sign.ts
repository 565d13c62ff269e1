import { randomUUID } from "node:crypto";
import { defaultEd25519Backend, type Ed25519Backend } from "../ed25519.ts";
import { toBytes } from "../encoding.ts";
import { encodeCertificateHeader, type SigilumCertificate } from "../identity/certificate.ts";
import type { SigilumIdentity } from "../identity/store.ts";
import { contentDigest } from "./content-digest.ts";
import { COMPONENTS_NO_BODY, COMPONENTS_WITH_BODY, SIGNATURE_LABEL } from "./profile.ts";
import { signMessage } from "./rfc9421.ts";

export interface SignRequestOptions {
  url: string;
  method?: string;
  headers?: Record<string, string> | Headers;
  body?: string | Uint8Array | ArrayBuffer | null;
  created?: number;
  nonce?: string;
  subject?: string;
  backend?: Ed25519Backend;
}

export interface SignedRequest {
  /** The normalised URL that was signed (WHATWG, fragment removed): send the request to exactly this URL. */
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Uint8Array | null;
}

const certificateHeaders = new WeakMap<SigilumCertificate, string>();
function certificateHeader(certificate: SigilumCertificate): string {
  let header = certificateHeaders.get(certificate);
  if (header === undefined) {
    header = encodeCertificateHeader(certificate);
    certificateHeaders.set(certificate, header);
  }
  return header;
}

function lowerCaseHeaders(headers: SignRequestOptions["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  const entries = headers instanceof Headers ? headers.entries() : Object.entries(headers);
  for (const [name, value] of entries) out[name.toLowerCase()] = value;
  return out;
}

/** Signs a request exactly as the Sigilum SDK's `signHttpRequest` does (same components, params and bytes). */
export function signRequest(identity: SigilumIdentity, options: SignRequestOptions): SignedRequest {
  const url = new URL(options.url);
  url.hash = "";
  const targetUri = url.toString();
  const method = (options.method ?? "GET").toUpperCase();
  const body = toBytes(options.body);
  const hasBody = body !== null && body.length > 0;
  const headers = lowerCaseHeaders(options.headers);
  if (hasBody) headers["content-digest"] = contentDigest(body);
  else delete headers["content-digest"];
  headers["sigilum-namespace"] = identity.namespace;
  headers["sigilum-subject"] =
    options.subject?.trim() || headers["sigilum-subject"]?.trim() || identity.namespace;
  headers["sigilum-agent-key"] = identity.publicKey;
  headers["sigilum-agent-cert"] = certificateHeader(identity.certificate);
  const backend = options.backend ?? defaultEd25519Backend();
  const signed = signMessage({
    label: SIGNATURE_LABEL,
    components: hasBody ? COMPONENTS_WITH_BODY : COMPONENTS_NO_BODY,
    params: [
      ["created", options.created ?? Math.floor(Date.now() / 1000)],
      ["keyid", identity.keyId],
      ["alg", "ed25519"],
      ["nonce", options.nonce ?? randomUUID()],
    ],
    resolve: (name) =>
      name === "@method"
        ? method.toLowerCase()
        : name === "@target-uri"
          ? targetUri
          : (headers[name] ?? null),
    sign: (base) => backend.sign(identity.privateKey, base),
  });
  headers["signature-input"] = signed.signatureInput;
  headers.signature = signed.signature;
  return { url: targetUri, method, headers, body };
}
