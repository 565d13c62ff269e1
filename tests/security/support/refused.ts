import assert from "node:assert/strict";
import type { Reply } from "./http.ts";
import type { Stack } from "./stack.ts";

/**
 * Sends with `send` and checks the answer: `status` with envelope `code`, and nothing reached the stack's upstream
 * meanwhile. `what` names the case in a failure.
 */
export async function refusedUnforwarded(
  stack: Stack,
  send: () => Promise<Reply>,
  status: number,
  code: string,
  what = "",
): Promise<void> {
  const before = stack.upstream.requests.length;
  const reply = await send();
  assert.equal(reply.status, status, `${what} ${reply.text}`);
  assert.equal(reply.code, code, what);
  assert.equal(stack.upstream.requests.length, before, `${what}: the upstream received the request`);
}
