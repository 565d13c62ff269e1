import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type McpTestServer, startMcpTestServer } from "@sigilum-gw/testkit/mcp-servers";
import fc from "fast-check";
import { effectivePolicy, explainTool, exposedTools } from "../src/mcp/policy.ts";
import type { ConnectionRecord, ToolPolicy } from "../src/model/connection/types.ts";
import { AGENT, adminJson, mintToken, rawRequest, testConfig, useProxy } from "./helpers.ts";

/**
 * The tool policy matrix as a property: over random connection/subject rule sets and subjects, the exposed
 * (listed) and callable tools always equal the composition written out below from the spec (allowlists
 * intersect — an empty intersection exposes nothing —, denylists unite, the smaller positive max wins, applied
 * in name order), and a denied call never reaches the MCP server.
 */

const TOOLS = ["add", "delete", "echo", "list", "search", "update"];
const toolSet = fc.uniqueArray(fc.constantFrom(...TOOLS), { maxLength: 4 });
const policyArb = fc.record({ allowlist: toolSet, denylist: toolSet, max_tools_exposed: fc.nat({ max: 4 }) });

/** The spec's composition, independently. */
function expected(base: ToolPolicy, own: ToolPolicy | undefined): string[] {
  const nonEmpty = (l?: string[]) => (l && l.length > 0 ? new Set(l) : undefined);
  const baseAllow = nonEmpty(base.allowlist);
  const ownAllow = nonEmpty(own?.allowlist);
  const allow =
    baseAllow && ownAllow ? new Set([...baseAllow].filter((t) => ownAllow.has(t))) : (baseAllow ?? ownAllow);
  const deny = new Set([...(base.denylist ?? []), ...(own?.denylist ?? [])]);
  const maxes = [base.max_tools_exposed ?? 0, own?.max_tools_exposed ?? 0].filter((m) => m > 0);
  const max = maxes.length > 0 ? Math.min(...maxes) : Infinity;
  return [...TOOLS]
    .sort()
    .filter((t) => (allow === undefined || allow.has(t)) && !deny.has(t))
    .slice(0, max);
}

function recordWith(base: ToolPolicy, subjects: Record<string, ToolPolicy>): ConnectionRecord {
  return { mcp_tool_policy: base, mcp_subject_tool_policies: subjects } as unknown as ConnectionRecord;
}

describe("tool policy composition (property)", () => {
  test("exposed tools and every explain verdict equal the spec's composition", () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.option(policyArb, { nil: undefined }),
        fc.constantFrom("alice", "bob"),
        (base, own, subject) => {
          const record = recordWith(base, own ? { alice: own } : {});
          const policy = effectivePolicy(record, subject);
          const want = expected(base, subject === "alice" ? own : undefined);
          const tools = TOOLS.map((name) => ({ name }));
          assert.deepEqual(
            exposedTools(tools, policy).map((t) => t.name),
            want,
          );
          for (const tool of TOOLS)
            assert.equal(explainTool(tool, tools, policy).allowed, want.includes(tool));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("tool policy through the gateway (property, real MCP server)", () => {
  let server: McpTestServer;
  before(async () => {
    server = await startMcpTestServer({ era: "stateless", tools: TOOLS });
  });
  after(() => server?.close());
  const gw = useProxy(() => testConfig());

  test("listed and callable tools equal the composition; denied calls never reach the server", async () => {
    const created = await adminJson(gw.url, "POST", "/api/admin/connections", {
      id: "policy-mcp",
      protocol: "mcp",
      base_url: server.url,
    });
    assert.equal(created.status, 201, created.text);
    await fc.assert(
      fc.asyncProperty(
        policyArb,
        policyArb,
        fc.constantFrom(AGENT.subject, "bob"),
        fc.constantFrom(...TOOLS),
        async (base, own, subject, tool) => {
          const patch = await adminJson(gw.url, "PATCH", "/api/admin/connections/policy-mcp", {
            mcp_tool_allowlist: base.allowlist,
            mcp_tool_denylist: base.denylist,
            mcp_max_tools_exposed: base.max_tools_exposed,
            mcp_subject_tool_policies: { [AGENT.subject]: own },
          });
          assert.equal(patch.status, 200, patch.text);
          const want = expected(base, subject === AGENT.subject ? own : undefined);
          const listPath = "/mcp/policy-mcp/tools";
          const listed = await rawRequest(gw.url, listPath, {
            headers: { "x-sigilum-authz": mintToken("GET", listPath, { subject }) },
          });
          assert.equal(listed.status, 200, listed.text);
          assert.deepEqual(
            listed.json().tools.map((t: { name: string }) => t.name),
            want,
          );
          const calls = server.count("tools/call", tool);
          const callPath = `/mcp/policy-mcp/tools/${tool}/call`;
          const called = await rawRequest(gw.url, callPath, {
            method: "POST",
            headers: { "x-sigilum-authz": mintToken("POST", callPath, { subject }) },
          });
          assert.equal(called.status, want.includes(tool) ? 200 : 403, called.text);
          assert.equal(server.count("tools/call", tool), calls + (want.includes(tool) ? 1 : 0));
        },
      ),
      { numRuns: 25 },
    );
  });
});
