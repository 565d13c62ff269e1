import type { ConnectionRecord, ToolPolicy } from "../model/connection/types.ts";

/**
 * Tool policy (spec §6.6, §6.8) with the reference's hazard fixed: the effective policy for a subject starts from
 * the connection's; a subject policy (exact subject match) narrows it — allowlists INTERSECT, denylists UNITE,
 * the smaller positive max wins. An empty intersection means NO tool (`allowlist: []`), never every tool.
 * A tool is callable only if it is in the filtered list of discovered tools.
 */

export interface EffectivePolicy {
  /** undefined: no allowlist; []: nothing allowed. */
  allowlist?: string[];
  denylist?: string[];
  max_tools_exposed?: number;
}

const sorted = (values: Iterable<string>) => [...new Set(values)].sort();

export function effectivePolicy(record: ConnectionRecord, subject: string): EffectivePolicy {
  const base = record.mcp_tool_policy;
  const own: ToolPolicy | undefined = Object.hasOwn(record.mcp_subject_tool_policies, subject.trim())
    ? record.mcp_subject_tool_policies[subject.trim()]
    : undefined;
  let allowlist = base.allowlist && base.allowlist.length > 0 ? sorted(base.allowlist) : undefined;
  let denylist = base.denylist && base.denylist.length > 0 ? sorted(base.denylist) : undefined;
  let max = base.max_tools_exposed && base.max_tools_exposed > 0 ? base.max_tools_exposed : 0;
  if (own) {
    if (own.allowlist && own.allowlist.length > 0) {
      const narrowed = own.allowlist;
      allowlist = allowlist ? allowlist.filter((t) => narrowed.includes(t)) : sorted(narrowed);
    }
    if (own.denylist && own.denylist.length > 0) denylist = sorted([...(denylist ?? []), ...own.denylist]);
    const ownMax = own.max_tools_exposed && own.max_tools_exposed > 0 ? own.max_tools_exposed : 0;
    if (ownMax > 0 && (max === 0 || ownMax < max)) max = ownMax;
  }
  const policy: EffectivePolicy = {};
  if (allowlist) policy.allowlist = allowlist;
  if (denylist) policy.denylist = denylist;
  if (max > 0) policy.max_tools_exposed = max;
  return policy;
}

/** Discovered tools (name-sorted) the policy exposes, in order, at most `max_tools_exposed`. */
export function exposedTools<T extends { name: string }>(tools: readonly T[], policy: EffectivePolicy): T[] {
  const out: T[] = [];
  const seen = new Set<string>();
  const allow = policy.allowlist ? new Set(policy.allowlist) : undefined;
  const deny = new Set(policy.denylist ?? []);
  for (const tool of tools) {
    const name = tool.name.trim();
    if (name === "" || seen.has(name)) continue;
    seen.add(name);
    if (allow && !allow.has(name)) continue;
    if (deny.has(name)) continue;
    out.push(tool);
    if (policy.max_tools_exposed && out.length >= policy.max_tools_exposed) break;
  }
  return out;
}

export type ExplainReason =
  | "MCP_TOOL_NAME_REQUIRED"
  | "MCP_TOOL_NOT_DISCOVERED"
  | "MCP_TOOL_DENIED_DENYLIST"
  | "MCP_TOOL_DENIED_ALLOWLIST"
  | "MCP_TOOL_ALLOWED"
  | "MCP_TOOL_DENIED_MAX_TOOLS_EXPOSED";

export interface Explanation {
  allowed: boolean;
  reason_code: ExplainReason;
  tool_discovered: boolean;
  exposed_tools: string[] | null;
}

/** Which rule decides for `tool` (spec §6.8 precedence). */
export function explainTool(
  tool: string,
  tools: readonly { name: string }[],
  policy: EffectivePolicy,
): Explanation {
  const exposed = exposedTools(tools, policy).map((t) => t.name);
  const discovered = tool !== "" && tools.some((t) => t.name === tool);
  const answer = (reason_code: ExplainReason): Explanation => ({
    allowed: reason_code === "MCP_TOOL_ALLOWED",
    reason_code,
    tool_discovered: discovered,
    exposed_tools: exposed.length > 0 ? exposed : null,
  });
  if (tool === "") return answer("MCP_TOOL_NAME_REQUIRED");
  if (!discovered) return answer("MCP_TOOL_NOT_DISCOVERED");
  if (policy.denylist?.includes(tool)) return answer("MCP_TOOL_DENIED_DENYLIST");
  if (policy.allowlist && !policy.allowlist.includes(tool)) return answer("MCP_TOOL_DENIED_ALLOWLIST");
  if (exposed.includes(tool)) return answer("MCP_TOOL_ALLOWED");
  return answer(policy.max_tools_exposed ? "MCP_TOOL_DENIED_MAX_TOOLS_EXPOSED" : "MCP_TOOL_NOT_DISCOVERED");
}
