/** The Sigilum RFC 9421 profile: fixed label, fixed parameter order, fixed component sets. */

export const SIGNATURE_LABEL = "sig1";

/**
 * Every header the profile signs or carries: stripped before a request leaves the gateway. Each must occur at most
 * once (one field line); a second line is a smuggling attempt.
 */
export const SIGNING_HEADERS = [
  "signature-input",
  "signature",
  "sigilum-namespace",
  "sigilum-subject",
  "sigilum-agent-id",
  "sigilum-agent-key",
  "sigilum-agent-cert",
  "content-digest",
] as const;

const NO_BODY = [
  "@method",
  "@target-uri",
  "sigilum-namespace",
  "sigilum-subject",
  "sigilum-agent-key",
  "sigilum-agent-cert",
];
const WITH_BODY = ["@method", "@target-uri", "content-digest", ...NO_BODY.slice(2)];
const withAgentId = (list: string[]) => [
  ...list.slice(0, list.indexOf("sigilum-subject") + 1),
  "sigilum-agent-id",
  ...list.slice(list.indexOf("sigilum-subject") + 1),
];

export const COMPONENTS_NO_BODY: readonly string[] = NO_BODY;
export const COMPONENTS_WITH_BODY: readonly string[] = WITH_BODY;

const key = (list: readonly string[]) => list.join(" ");
const SDK_SETS = { body: new Set([key(WITH_BODY)]), noBody: new Set([key(NO_BODY)]) };
/** The Go SDK and the OpenClaw signer also sign `sigilum-agent-id` after the subject. */
const GATEWAY_SETS = {
  body: new Set([key(WITH_BODY), key(withAgentId(WITH_BODY))]),
  noBody: new Set([key(NO_BODY), key(withAgentId(NO_BODY))]),
};

/** `components` joined with single spaces, the form isAllowedComponentKey takes. */
export const componentKey = key;

export function isAllowedComponentKey(
  componentsKey: string,
  hasBody: boolean,
  allowAgentId: boolean,
): boolean {
  const sets = allowAgentId ? GATEWAY_SETS : SDK_SETS;
  return (hasBody ? sets.body : sets.noBody).has(componentsKey);
}

export function isAllowedComponentSet(
  components: readonly string[],
  hasBody: boolean,
  allowAgentId: boolean,
): boolean {
  return isAllowedComponentKey(key(components), hasBody, allowAgentId);
}

/**
 * The inner lists of every allowed component set, spelled as the SDKs write them (`"a" "b"`), mapped to their
 * components: the hot path looks a list up instead of tokenizing it. Other spellings take the general parse.
 */
const KNOWN_LISTS = new Map<string, readonly string[]>(
  [WITH_BODY, NO_BODY, withAgentId(WITH_BODY), withAgentId(NO_BODY)].map((list) => [
    list.map((c) => `"${c}"`).join(" "),
    Object.freeze([...list]),
  ]),
);

export interface ProfileSignatureInput {
  components: string[];
  /** `components` joined with single spaces (see isAllowedComponentKey). */
  componentsKey: string;
  /** `(...)` plus parameters exactly as received: the `@signature-params` value. */
  signatureParams: string;
  created: string;
  keyId: string;
  alg: string;
  nonce: string;
}

const PROFILE_INPUT_RE = /^sig1=(\(([^)]*)\);created=(\d+);keyid="([^"]+)";alg="([^"]+)";nonce="([^"]+)")$/;
const COMPONENT_RE = /^"([^"\s]+)"$/;

/** Strict profile parse (fixed label and parameter order, no other parameters). */
export function parseProfileSignatureInput(header: string): ProfileSignatureInput | null {
  const match = PROFILE_INPUT_RE.exec(header);
  if (!match) return null;
  const list = (match[2] as string).trim();
  const known = KNOWN_LISTS.get(list);
  const components: string[] = known ? [...known] : [];
  if (!known && list.length > 0) {
    for (const token of list.split(/\s+/)) {
      const component = COMPONENT_RE.exec(token);
      if (!component) return null;
      components.push(component[1] as string);
    }
  }
  return {
    components,
    componentsKey: key(components),
    signatureParams: match[1] as string,
    created: match[3] as string,
    keyId: match[4] as string,
    alg: match[5] as string,
    nonce: match[6] as string,
  };
}

/**
 * A 64-byte Ed25519 signature in canonical standard base64: 85 characters, a last character that carries
 * only two bits (so one signature has exactly one accepted spelling), then `==`.
 */
export const PROFILE_SIGNATURE_RE = /^sig1=:([A-Za-z0-9+/]{85}[AQgw]==):$/;

const SIGNATURE_PREFIX = "sig1=:";
const SIGNATURE_LENGTH = SIGNATURE_PREFIX.length + 88 + 1;
const BASE64_CHARS = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
  BASE64_CHARS[c.charCodeAt(0)] = 1;
const LAST_SIGNATURE_CHARS = "AQgw";

/**
 * The base64 signature of a `Signature` header when it matches PROFILE_SIGNATURE_RE, else null. Same language as
 * the regex (a test checks both agree), by a character scan: the regex costs ~0.5 µs per request, this ~0.1 µs.
 */
export function profileSignatureBase64(header: string): string | null {
  if (header.length !== SIGNATURE_LENGTH || !header.startsWith(SIGNATURE_PREFIX) || !header.endsWith("==:")) {
    return null;
  }
  const last = SIGNATURE_PREFIX.length + 85;
  for (let i = SIGNATURE_PREFIX.length; i < last; i++) {
    const c = header.charCodeAt(i);
    if (c > 127 || BASE64_CHARS[c] === 0) return null;
  }
  if (!LAST_SIGNATURE_CHARS.includes(header.charAt(last))) return null;
  return header.slice(SIGNATURE_PREFIX.length, SIGNATURE_LENGTH - 1);
}
