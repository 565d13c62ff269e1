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

/**
 * Queued deliveries to the control plane (claim submissions, usage events) outlast an outage of about half an hour:
 * plain exponential backoff from 1 s gave up after 15-30 s, and a control plane restarting under load took longer
 * (its usage events were lost). Doubling from 1 s up to a minute between attempts, with jitter so that many workers
 * do not retry in step; bullmq jobs use `backoff: { type: "custom" }` and this as the worker's backoffStrategy.
 */
export const DELIVERY_ATTEMPTS = 35;

export function deliveryRetryDelayMs(attemptsMade: number): number {
  const ceiling = Math.min(60_000, 1000 * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(ceiling * (0.5 + Math.random() / 2));
}
