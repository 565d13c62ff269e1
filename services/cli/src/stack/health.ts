const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One GET /health with a short timeout: 2xx = healthy. */
export async function probeHealth(baseUrl: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const response = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * Polls /health until it answers 2xx, the deadline passes, or `stillRunning()` says the process died.
 */
export async function waitForHealth(
  baseUrl: string,
  options: { timeoutMs: number; stillRunning: () => boolean; intervalMs?: number },
): Promise<"healthy" | "timeout" | "exited"> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    if (await probeHealth(baseUrl)) return "healthy";
    if (!options.stillRunning()) return "exited";
    await sleep(options.intervalMs ?? 200);
  }
  return "timeout";
}
