/** Strict lower-case namespace rule of the SDK, CLI and identity store (3-64 chars). */
export const NAMESPACE_RE = /^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$/;
/** Mixed-case rule used by the control plane's `/v1/namespaces/:ns` routes and the DID parser. */
export const NAMESPACE_MIXED_CASE_RE = /^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}[a-zA-Z0-9]$/;

export class InvalidNamespaceError extends Error {
  constructor(value: string) {
    super(
      `Namespace must match ${NAMESPACE_RE.source} (3-64 chars, lowercase); got ${JSON.stringify(value.slice(0, 80))}`,
    );
    this.name = "InvalidNamespaceError";
  }
}

export function normalizeNamespace(value: string): string {
  const namespace = value.trim().toLowerCase();
  if (!NAMESPACE_RE.test(namespace)) throw new InvalidNamespaceError(value);
  return namespace;
}

export function isValidNamespace(value: string): boolean {
  return NAMESPACE_RE.test(value);
}
