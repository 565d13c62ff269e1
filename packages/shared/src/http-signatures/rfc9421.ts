/**
 * A generic RFC 9421 core: derived components, header-field components, the signature base, and
 * Signature-Input / Signature members. The `@signature-params` line is the inner list exactly as
 * received, never re-serialised (RFC 9421 §2.3: parameter order is part of the signed bytes).
 */

export type HeaderInput = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface HttpRequestMessage {
  method: string;
  /** Absolute target URI, e.g. `https://example.com/foo?x=1`. */
  targetUri: string;
  headers: HeaderInput;
}

/** First field line of a header (names are lower-case), trimmed; undefined when absent. */
export function firstHeader(headers: HeaderInput, name: string): string | undefined {
  const value = headers[name];
  const first = typeof value === "string" ? value : value?.[0];
  return first?.trim();
}

/** All field lines of a header combined per RFC 9110 §5.3 (comma + space). */
function combinedHeader(headers: HeaderInput, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return typeof value === "string" ? value.trim() : value.map((v) => v.trim()).join(", ");
}

function splitTarget(
  targetUri: string,
): { scheme: string; authority: string; path: string; query: string } | null {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?/.exec(targetUri);
  if (!match) return null;
  return {
    scheme: match[1] as string,
    authority: match[2] as string,
    path: match[3] || "/",
    query: match[4] ?? "?",
  };
}

function normalizeAuthority(scheme: string, authority: string): string {
  const lower = authority.toLowerCase();
  const defaultPort =
    scheme.toLowerCase() === "https" ? ":443" : scheme.toLowerCase() === "http" ? ":80" : null;
  return defaultPort && lower.endsWith(defaultPort) ? lower.slice(0, -defaultPort.length) : lower;
}

/** RFC 9421 §2.2 derived components. Returns null for an unknown or underivable component. */
export function deriveComponent(name: string, message: HttpRequestMessage): string | null {
  if (name === "@method") return message.method;
  if (name === "@target-uri") return message.targetUri;
  const target = splitTarget(message.targetUri);
  if (!target) return null;
  switch (name) {
    case "@authority":
      return normalizeAuthority(target.scheme, target.authority);
    case "@scheme":
      return target.scheme.toLowerCase();
    case "@path":
      return target.path;
    case "@query":
      return target.query;
    case "@request-target":
      return target.query === "?" ? target.path : target.path + target.query;
    default:
      return null;
  }
}

export type ComponentResolver = (name: string) => string | null;

export function defaultResolver(message: HttpRequestMessage): ComponentResolver {
  return (name) =>
    name.startsWith("@") ? deriveComponent(name, message) : (combinedHeader(message.headers, name) ?? null);
}

export type BaseResult = { ok: true; base: string } | { ok: false; missing: string };

/** `"<name>": <value>` lines then `"@signature-params": <params>`, LF-joined, no trailing newline. */
export function buildSignatureBase(
  components: readonly string[],
  resolve: ComponentResolver,
  signatureParams: string,
): BaseResult {
  let base = "";
  for (const name of components) {
    const value = resolve(name);
    if (value === null) return { ok: false, missing: name };
    base += `"${name}": ${value}\n`;
  }
  base += `"@signature-params": ${signatureParams}`;
  return { ok: true, base };
}

export interface SignatureInputMember {
  label: string;
  components: string[];
  /** The inner list with its parameters, exactly as received: the `@signature-params` value. */
  raw: string;
  params: Map<string, string | number>;
}

const MEMBER_RE =
  /^([a-z*][a-z0-9_\-.*]*)=(\((?:"[^"\\]*"(?: "[^"\\]*")*)?\)((?:;[a-z*][a-z0-9_\-.*]*=(?:"[^"\\]*"|-?\d+))*))$/;
const PARAM_RE = /;([a-z*][a-z0-9_\-.*]*)=("([^"\\]*)"|-?\d+)/g;

/** Parses one `label=(...);params` Signature-Input member; null when it is not well formed. */
export function parseSignatureInputMember(text: string): SignatureInputMember | null {
  const match = MEMBER_RE.exec(text.trim());
  if (!match) return null;
  const raw = match[2] as string;
  const list = raw.slice(1, raw.indexOf(")"));
  const components = list.length === 0 ? [] : list.split(" ").map((c) => c.slice(1, -1));
  const params = new Map<string, string | number>();
  for (const p of (match[3] as string).matchAll(PARAM_RE)) {
    const key = p[1] as string;
    if (params.has(key)) return null;
    params.set(key, p[3] !== undefined ? p[3] : Number(p[2]));
  }
  if (new Set(components).size !== components.length) return null;
  return { label: match[1] as string, components, raw, params };
}

/** Splits a dictionary header into members at top-level commas (commas inside quotes are kept). */
export function splitDictionary(text: string): string[] {
  const members: string[] = [];
  let current = "";
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (ch === "," && !quoted) {
      members.push(current.trim());
      current = "";
    } else current += ch;
  }
  if (current.trim()) members.push(current.trim());
  return members;
}

export function findSignatureInput(header: string, label: string): SignatureInputMember | null {
  for (const member of splitDictionary(header)) {
    const parsed = parseSignatureInputMember(member);
    if (parsed?.label === label) return parsed;
  }
  return null;
}

/** `label=:base64:` → the base64 text for that label, or null. */
export function findSignatureValue(header: string, label: string): string | null {
  for (const member of splitDictionary(header)) {
    const match = /^([a-z*][a-z0-9_\-.*]*)=:([A-Za-z0-9+/]+={0,2}):$/.exec(member);
    if (match && match[1] === label) return match[2] as string;
  }
  return null;
}

export function serializeSignatureParams(
  components: readonly string[],
  params: ReadonlyArray<[string, string | number]>,
): string {
  const list = `(${components.map((c) => `"${c}"`).join(" ")})`;
  return list + params.map(([k, v]) => (typeof v === "number" ? `;${k}=${v}` : `;${k}="${v}"`)).join("");
}

export interface SignedFields {
  signatureInput: string;
  signature: string;
  base: string;
}

/** Signs a message: builds the base from `components` and returns both header values for `label`. */
export function signMessage(options: {
  label: string;
  components: readonly string[];
  params: ReadonlyArray<[string, string | number]>;
  resolve: ComponentResolver;
  sign: (base: Uint8Array) => Uint8Array;
}): SignedFields {
  const signatureParams = serializeSignatureParams(options.components, options.params);
  const built = buildSignatureBase(options.components, options.resolve, signatureParams);
  if (!built.ok) throw new Error(`cannot sign: component ${built.missing} is missing from the message`);
  const signature = Buffer.from(options.sign(Buffer.from(built.base, "utf8"))).toString("base64");
  return {
    signatureInput: `${options.label}=${signatureParams}`,
    signature: `${options.label}=:${signature}:`,
    base: built.base,
  };
}

export type Rfc9421Verification =
  | { ok: true; member: SignatureInputMember; base: string }
  | { ok: false; reason: string };

/** Verifies one labelled signature over a message with any component set (no profile rules). */
export function verifyMessage(options: {
  label: string;
  signatureInput: string;
  signature: string;
  resolve: ComponentResolver;
  verify: (base: Uint8Array, signature: Uint8Array) => boolean;
}): Rfc9421Verification {
  const member = findSignatureInput(options.signatureInput, options.label);
  if (!member) return { ok: false, reason: `no well-formed Signature-Input member "${options.label}"` };
  const value = findSignatureValue(options.signature, options.label);
  if (!value) return { ok: false, reason: `no Signature member "${options.label}"` };
  const built = buildSignatureBase(member.components, options.resolve, member.raw);
  if (!built.ok) return { ok: false, reason: `covered component ${built.missing} is missing` };
  const valid = options.verify(Buffer.from(built.base, "utf8"), Buffer.from(value, "base64"));
  return valid ? { ok: true, member, base: built.base } : { ok: false, reason: "signature does not verify" };
}
