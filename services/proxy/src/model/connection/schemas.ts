import { z } from "zod";
import type { ConnectionRecord } from "./types.ts";

/** Input shapes of the admin API (types only; rules.ts and the create/update/rotate files give the reference's messages). */

const optStr = z.string().nullish();
const optInt = z.number().int().nullish();
const strList = z.array(z.string()).nullish();
export const policyInput = z.object({ allowlist: strList, denylist: strList, max_tools_exposed: optInt });

export const createConnectionInput = z.object({
  id: optStr,
  name: optStr,
  protocol: optStr,
  base_url: optStr,
  path_prefix: optStr,
  allow_encoded_slashes: z.boolean().nullish(),
  auth_mode: optStr,
  auth_header_name: optStr,
  auth_prefix: optStr,
  auth_secret_key: optStr,
  secrets: z.record(z.string(), z.string()).nullish(),
  rotation_interval_days: optInt,
  mcp_transport: optStr,
  mcp_endpoint: optStr,
  mcp_protocol_version: optStr,
  mcp_tool_allowlist: strList,
  mcp_tool_denylist: strList,
  mcp_max_tools_exposed: optInt,
  mcp_subject_tool_policies: z.record(z.string(), policyInput).nullish(),
});
export type CreateConnectionInput = z.infer<typeof createConnectionInput>;

/** Update (§5.3): the create fields that may change, plus status; every field optional ("empty means unchanged"). */
export const updateConnectionInput = createConnectionInput
  .omit({ id: true, protocol: true, base_url: true, secrets: true })
  .extend({ status: optStr })
  .partial();
export type UpdateConnectionInput = z.infer<typeof updateConnectionInput>;

export const rotateConnectionInput = z.object({
  secrets: z.record(z.string(), z.string()).nullish(),
  rotated_by: optStr,
  rotation_reason: optStr,
});
export type RotateConnectionInput = z.infer<typeof rotateConnectionInput>;

/** Stored metadata schema: parsed on every read so a corrupt record fails loudly instead of forwarding wrongly. */
const policySchema = z.object({
  allowlist: z.array(z.string()).optional(),
  denylist: z.array(z.string()).optional(),
  max_tools_exposed: z.number().int().optional(),
});
export const connectionRecordSchema = z.object({
  id: z.string(),
  name: z.string(),
  protocol: z.enum(["http", "mcp"]),
  base_url: z.string(),
  path_prefix: z.string(),
  // Records written before the option existed read as false.
  allow_encoded_slashes: z.boolean().default(false),
  auth_mode: z.enum(["bearer", "header_key", "query_param"]),
  auth_header_name: z.string(),
  auth_prefix: z.string(),
  auth_secret_key: z.string(),
  credential_keys: z.array(z.string()),
  mcp_transport: z.string(),
  mcp_endpoint: z.string(),
  mcp_protocol_version: z.string().optional(),
  mcp_tool_policy: policySchema,
  mcp_subject_tool_policies: z.record(z.string(), policySchema),
  mcp_discovery: z.object({
    server: z.object({
      name: z.string().optional(),
      version: z.string().optional(),
      protocol_version: z.string().optional(),
    }),
    tools: z
      .array(
        z.object({
          name: z.string(),
          description: z.string().optional(),
          input_schema: z.string().optional(),
        }),
      )
      .optional(),
    last_discovered_at: z.number().nullable(),
    last_discovery_error: z.string().optional(),
  }),
  status: z.enum(["active", "disabled"]),
  created_at: z.number(),
  updated_at: z.number(),
  last_tested_at: z.number().nullable(),
  last_test_status: z.enum(["", "pass", "fail"]),
  last_test_http_status: z.number().int(),
  last_test_error: z.string(),
  last_rotated_at: z.number().nullable(),
  rotation_interval_days: z.number().int(),
  next_rotation_due_at: z.number().nullable(),
  secret_version: z.number().int().positive(),
}) satisfies z.ZodType<ConnectionRecord>;
