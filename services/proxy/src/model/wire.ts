// Characters that would split or corrupt a header line, or a query parameter.
const UNSAFE_VALUE_RE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** True when a value cannot go on the wire as a header value or query parameter (connections and variables). */
export function hasUnsafeHeaderChars(value: string): boolean {
  return UNSAFE_VALUE_RE.test(value);
}
