import { z } from "zod";
import { badRequest } from "../model/errors.ts";

/**
 * Service catalog (spec §5.10): templates the dashboard and CLI offer when adding a connection. Validation and
 * normalization follow the reference's order and messages exactly; they are returned as 400s on PUT.
 */

const optStr = z.string().nullish();
const strList = z.array(z.string()).nullish();
const policyInput = z.object({
  allowlist: strList,
  denylist: strList,
  max_tools_exposed: z.number().int().nullish(),
});

export const credentialFieldInput = z.object({
  key: optStr,
  label: optStr,
  placeholder: optStr,
  env_var: optStr,
  secret: z.boolean().nullish(),
  required: z.boolean().nullish(),
  help: optStr,
});

export const serviceTemplateInput = z.object({
  key: optStr,
  label: optStr,
  description: optStr,
  connection_id: optStr,
  protocol: optStr,
  base_url: optStr,
  mcp_base_url: optStr,
  path_prefix: optStr,
  auth_mode: optStr,
  auth_header_name: optStr,
  auth_prefix: optStr,
  auth_secret_key: optStr,
  mcp_transport: optStr,
  mcp_endpoint: optStr,
  mcp_tool_allowlist: strList,
  mcp_tool_denylist: strList,
  mcp_max_tools_exposed: z.number().int().nullish(),
  mcp_subject_tool_policies: z.record(z.string(), policyInput).nullish(),
  default_test_path: optStr,
  default_test_method: optStr,
  default_test_headers: z.record(z.string(), z.string()).nullish(),
  default_test_body: optStr,
  credential_fields: z.array(credentialFieldInput).nullish(),
});

export const catalogInput = z.object({
  version: optStr,
  services: z.array(serviceTemplateInput).nullish(),
});
export type CatalogInput = z.infer<typeof catalogInput>;

export interface CredentialField {
  key: string;
  label: string;
  placeholder?: string;
  env_var?: string;
  secret: boolean;
  required: boolean;
  help?: string;
}

export interface TemplatePolicy {
  allowlist?: string[];
  denylist?: string[];
  max_tools_exposed?: number;
}

export interface ServiceTemplate {
  key: string;
  label: string;
  description: string;
  connection_id: string;
  protocol?: string;
  base_url: string;
  mcp_base_url?: string;
  path_prefix: string;
  auth_mode: string;
  auth_header_name: string;
  auth_prefix: string;
  auth_secret_key?: string;
  mcp_transport?: string;
  mcp_endpoint?: string;
  mcp_tool_allowlist?: string[];
  mcp_tool_denylist?: string[];
  mcp_max_tools_exposed?: number;
  mcp_subject_tool_policies?: Record<string, TemplatePolicy>;
  default_test_path: string;
  default_test_method?: string;
  default_test_headers?: Record<string, string>;
  default_test_body?: string;
  credential_fields: CredentialField[];
}

export interface ServiceCatalog {
  version: string;
  services: ServiceTemplate[];
}

const trim = (v: string | null | undefined) => (v ?? "").trim();

/** Trim, drop empties, dedupe keeping order (not sorted, unlike connection policies); empty → undefined. */
function normalizeList(list: string[] | null | undefined): string[] | undefined {
  if (!list) return undefined;
  const out: string[] = [];
  for (const item of list) {
    const v = item.trim();
    if (v !== "" && !out.includes(v)) out.push(v);
  }
  return out.length > 0 ? out : undefined;
}

function isAbsoluteUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol !== "" && url.host !== "";
  } catch {
    return false;
  }
}

function prefixEndpoint(value: string): string {
  if (value.startsWith("/") || value.startsWith("http://") || value.startsWith("https://")) return value;
  return `/${value}`;
}

function normalizeTemplate(
  raw: z.infer<typeof serviceTemplateInput>,
  i: number,
  seenKeys: Set<string>,
  seenIds: Set<string>,
): ServiceTemplate {
  const key = trim(raw.key);
  if (key === "") throw badRequest(`services[${i}].key is required`);
  if (seenKeys.has(key)) throw badRequest(`duplicate service key "${key}"`);
  seenKeys.add(key);
  const connectionId = trim(raw.connection_id);
  if (connectionId === "") throw badRequest(`services[${i}].connection_id is required`);
  if (seenIds.has(connectionId)) throw badRequest(`duplicate connection_id "${connectionId}"`);
  seenIds.add(connectionId);

  const protocol = trim(raw.protocol).toLowerCase() || "http";
  if (protocol !== "http" && protocol !== "mcp")
    throw badRequest(`services[${i}].protocol must be http or mcp`);
  const baseUrl = trim(raw.base_url);
  if (baseUrl === "") throw badRequest(`services[${i}].base_url is required`);
  let mcpBaseUrl = trim(raw.mcp_base_url);
  if (mcpBaseUrl !== "" && !isAbsoluteUrl(mcpBaseUrl)) {
    throw badRequest(`services[${i}].mcp_base_url must be a valid absolute URL`);
  }

  const authMode = trim(raw.auth_mode) || "bearer";
  if (authMode !== "bearer" && authMode !== "header_key" && authMode !== "query_param") {
    throw badRequest(`services[${i}].auth_mode must be bearer, header_key, or query_param`);
  }
  const authHeaderName =
    trim(raw.auth_header_name) || (authMode === "query_param" ? "api_key" : "Authorization");
  let authPrefix = raw.auth_prefix ?? "";
  if (authMode === "bearer" && authPrefix === "") authPrefix = "Bearer ";

  const fields: CredentialField[] = [];
  const fieldKeys = new Set<string>();
  (raw.credential_fields ?? []).forEach((f, j) => {
    const fieldKey = trim(f.key);
    if (fieldKey === "") throw badRequest(`services[${i}].credential_fields[${j}].key is required`);
    if (fieldKeys.has(fieldKey))
      throw badRequest(`services[${i}] duplicate credential field key "${fieldKey}"`);
    fieldKeys.add(fieldKey);
    const field: CredentialField = {
      key: fieldKey,
      label: trim(f.label) || fieldKey,
      secret: f.secret ?? false,
      required: f.required ?? false,
    };
    if (trim(f.placeholder)) field.placeholder = trim(f.placeholder);
    if (trim(f.env_var)) field.env_var = trim(f.env_var);
    if (trim(f.help)) field.help = trim(f.help);
    fields.push(field);
  });
  if (protocol === "http" && fields.length === 0) {
    throw badRequest(`services[${i}].credential_fields must contain at least one field`);
  }
  let authSecretKey = trim(raw.auth_secret_key);
  if (authSecretKey === "" && fields.length > 0) authSecretKey = fields[0]!.key;
  if (authSecretKey !== "" && !fieldKeys.has(authSecretKey)) {
    throw badRequest(`services[${i}].auth_secret_key "${authSecretKey}" not found in credential_fields`);
  }
  if (protocol === "http" && authSecretKey === "") {
    throw badRequest(`services[${i}].auth_secret_key is required for http services`);
  }
  if ((raw.mcp_max_tools_exposed ?? 0) < 0)
    throw badRequest(`services[${i}].mcp_max_tools_exposed must be >= 0`);

  const template: ServiceTemplate = {
    key,
    label: trim(raw.label) || key,
    description: trim(raw.description),
    connection_id: connectionId,
    base_url: baseUrl,
    path_prefix: trim(raw.path_prefix),
    auth_mode: authMode,
    auth_header_name: authHeaderName,
    auth_prefix: authPrefix,
    default_test_path: "/",
    credential_fields: fields,
  };
  template.protocol = protocol;
  if (authSecretKey !== "") template.auth_secret_key = authSecretKey;

  let transport = trim(raw.mcp_transport);
  let endpoint = trim(raw.mcp_endpoint);
  if (protocol === "mcp") {
    if (mcpBaseUrl === "") mcpBaseUrl = baseUrl;
    if (transport === "") transport = "streamable_http";
    if (transport.toLowerCase() !== "streamable_http") {
      throw badRequest(`services[${i}].mcp_transport must be streamable_http`);
    }
    endpoint = prefixEndpoint(endpoint === "" ? "/" : endpoint);
    const allow = normalizeList(raw.mcp_tool_allowlist);
    const deny = normalizeList(raw.mcp_tool_denylist);
    if (allow) template.mcp_tool_allowlist = allow;
    if (deny) template.mcp_tool_denylist = deny;
    if ((raw.mcp_max_tools_exposed ?? 0) > 0) template.mcp_max_tools_exposed = raw.mcp_max_tools_exposed!;
    const policies: Record<string, TemplatePolicy> = {};
    for (const [rawSubject, p] of Object.entries(raw.mcp_subject_tool_policies ?? {})) {
      const subject = rawSubject.trim();
      if (subject === "")
        throw badRequest(`services[${i}].mcp_subject_tool_policies contains an empty subject key`);
      if ((p.max_tools_exposed ?? 0) < 0) {
        throw badRequest(
          `services[${i}].mcp_subject_tool_policies["${subject}"].max_tools_exposed must be >= 0`,
        );
      }
      const policy: TemplatePolicy = {};
      const pAllow = normalizeList(p.allowlist);
      const pDeny = normalizeList(p.denylist);
      if (pAllow) policy.allowlist = pAllow;
      if (pDeny) policy.denylist = pDeny;
      if ((p.max_tools_exposed ?? 0) > 0) policy.max_tools_exposed = p.max_tools_exposed!;
      policies[subject] = policy;
    }
    if (Object.keys(policies).length > 0) template.mcp_subject_tool_policies = policies;
  } else {
    if (transport !== "" && transport.toLowerCase() !== "streamable_http") {
      throw badRequest(`services[${i}].mcp_transport must be streamable_http when provided`);
    }
    if (endpoint !== "") endpoint = prefixEndpoint(endpoint);
  }
  if (mcpBaseUrl !== "") template.mcp_base_url = mcpBaseUrl;
  if (transport !== "") template.mcp_transport = transport;
  if (endpoint !== "") template.mcp_endpoint = endpoint;

  let testPath = trim(raw.default_test_path) || "/";
  if (!testPath.startsWith("/")) testPath = `/${testPath}`;
  template.default_test_path = testPath;
  template.default_test_method = trim(raw.default_test_method).toUpperCase() || "GET";
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw.default_test_headers ?? {})) {
    if (name.trim() !== "") headers[name.trim()] = value.trim();
  }
  if (Object.keys(headers).length > 0) template.default_test_headers = headers;
  if (trim(raw.default_test_body)) template.default_test_body = trim(raw.default_test_body);
  return template;
}

/** Validates and normalizes a whole catalog; throws a 400 GatewayError with the reference's message. */
export function normalizeCatalog(input: CatalogInput): ServiceCatalog {
  const seenKeys = new Set<string>();
  const seenIds = new Set<string>();
  return {
    version: trim(input.version) || "v1",
    services: (input.services ?? []).map((s, i) => normalizeTemplate(s, i, seenKeys, seenIds)),
  };
}
