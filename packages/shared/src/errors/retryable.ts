/**
 * Whether a signed call to the control plane that was answered this way may succeed when signed again and resent
 * later: server and timeout/rate answers, and a signature refused because Redis began a new replay window (for a few
 * seconds after a Redis restart every signature is refused; a queued claim or usage event must not be dropped then).
 */
export function retryableAnswer(status: number, code: string | undefined): boolean {
  return status >= 500 || status === 408 || status === 429 || code === "AUTH_REPLAY_WINDOW_RESET";
}

/** The `code` of an error envelope, if the text is one. */
export function envelopeCode(text: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object" && "code" in parsed && typeof parsed.code === "string")
      return parsed.code;
  } catch {}
  return undefined;
}
