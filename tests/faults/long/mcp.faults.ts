import assert from "node:assert/strict";
import { describe } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { assertFailClosed, UNDER_LOAD } from "../harness/expect.ts";
import { faultSuite } from "../harness/suite.ts";
import { recoveryMs, startTraffic, tally } from "../harness/traffic.ts";

/**
 * An MCP server (official MCP SDK, stateful 2025 era) goes away mid-traffic and comes back on another address
 * (sessions lost): tool calls fail closed with documented codes while it is gone, the circuit breaker opens, and
 * after its cool-down the calls work again on a fresh session, without any help.
 */

describe("faults: an MCP server", { timeout: 600_000 }, () => {
  const suite = faultSuite({
    verifiers: 1,
    proxies: 1,
    mcp: true,
    proxyEnv: { GATEWAY_MCP_CIRCUIT_BREAKER_COOLDOWN_SECONDS: "2" },
  });

  suite.test("killed mid-traffic and restarted: documented codes, then tool calls work again", async (t) => {
    const stack = suite.stack;
    const traffic = startTraffic(stack, {
      lanes: 2,
      strangerEvery: 4,
      send: (who) => stack.callTool("search", who),
    });
    await sleep(1000);
    await stack.mcp.stop();
    await sleep(2000);
    await stack.mcp.start();
    const restartedAt = traffic.now();
    await sleep(5000);
    const outcomes = await traffic.stop();
    t.diagnostic(JSON.stringify(tally(outcomes)));
    assertFailClosed(outcomes, [
      "MCP_TOOL_CALL_FAILED",
      "MCP_CIRCUIT_OPEN",
      "UPSTREAM_ERROR",
      "UPSTREAM_TIMEOUT",
      ...UNDER_LOAD,
    ]);
    assert.ok(
      outcomes.some((o) => o.who === "agent" && o.status >= 500),
      "the outage was seen",
    );
    const recovery = recoveryMs(outcomes, restartedAt);
    t.diagnostic(`first successful tool call after the server came back: ${recovery?.toFixed(0)} ms`);
    assert.ok(recovery !== undefined && recovery < 8000, `recovery ${recovery} ms`);
    assert.ok((stack.mcp.server?.count("tools/call", "search") ?? 0) > 0, "calls reach the new server");
  });
});
