import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import protobuf from "protobufjs";

/**
 * Checks an Envoy bootstrap (as parsed from YAML) against Envoy's v3 API protos, the ones @grpc/grpc-js-xds ships
 * in deps/: every field must exist in its message (no typo passes silently, as it would with Envoy's JSON
 * parsing of unknown fields under `--reject-unknown-dynamic-fields` off), no deprecated field, enum values by
 * name, scalars of the right type, durations as "<n>s", at most one member of a oneof and one for the required
 * oneofs, required messages present, every `@type` resolved and checked in turn.
 */

const require = createRequire(import.meta.url);
const DEPS = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
const INCLUDE = [
  ...["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => join(DEPS, d)),
  // google/protobuf/descriptor.proto (the option extensions import it)
  dirname(require.resolve("protobufjs/package.json")),
];
const ENTRY_POINTS = [
  "envoy/config/bootstrap/v3/bootstrap.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/health_check/v3/health_check.proto",
];

let cached: protobuf.Root | undefined;

function envoyRoot(): protobuf.Root {
  if (cached) return cached;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (target.startsWith("/")) return target;
    for (const dir of INCLUDE) {
      const candidate = join(dir, target);
      try {
        require.resolve(candidate);
        return candidate;
      } catch {
        // not in this include dir
      }
    }
    return target; // protobufjs's bundled google/protobuf/*.proto
  };
  root.loadSync(ENTRY_POINTS, { keepCase: true });
  root.resolveAll();
  cached = root;
  return root;
}

const INT_TYPES = new Set(["int32", "sint32", "sfixed32", "uint32", "fixed32"]);
const LONG_TYPES = new Set(["int64", "sint64", "sfixed64", "uint64", "fixed64"]);
const WRAPPERS: Record<string, string> = {
  ".google.protobuf.BoolValue": "bool",
  ".google.protobuf.UInt32Value": "uint32",
  ".google.protobuf.Int32Value": "int32",
  ".google.protobuf.UInt64Value": "uint64",
  ".google.protobuf.Int64Value": "int64",
  ".google.protobuf.DoubleValue": "double",
  ".google.protobuf.FloatValue": "float",
  ".google.protobuf.StringValue": "string",
  ".google.protobuf.BytesValue": "bytes",
};
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function checkScalar(type: string, value: unknown, at: string, errors: string[]): void {
  const ok =
    type === "bool"
      ? typeof value === "boolean"
      : type === "string" || type === "bytes"
        ? typeof value === "string"
        : type === "double" || type === "float"
          ? typeof value === "number"
          : INT_TYPES.has(type) || LONG_TYPES.has(type)
            ? (typeof value === "number" && Number.isInteger(value)) ||
              (typeof value === "string" && /^-?\d+$/.test(value))
            : false;
  if (!ok) errors.push(`${at}: expected ${type}, got ${JSON.stringify(value)}`);
  else if (type.startsWith("uint") || type.startsWith("fixed")) {
    if (Number(value) < 0) errors.push(`${at}: ${type} must not be negative`);
  }
}

function checkValue(
  root: protobuf.Root,
  field: protobuf.Field,
  value: unknown,
  at: string,
  errors: string[],
) {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    const known =
      typeof value === "string"
        ? value in resolved.values
        : Object.hasOwn(resolved.valuesById, String(value));
    if (!known) errors.push(`${at}: ${JSON.stringify(value)} is not a ${resolved.fullName} value`);
  } else if (resolved instanceof protobuf.Type) checkMessage(root, resolved, value, at, errors);
  else checkScalar(field.type, value, at, errors);
}

function checkMessage(
  root: protobuf.Root,
  type: protobuf.Type,
  value: unknown,
  at: string,
  errors: string[],
): void {
  const name = type.fullName;
  const wrapped = WRAPPERS[name];
  if (wrapped) {
    checkScalar(wrapped, value, at, errors);
    return;
  }
  if (name === ".google.protobuf.Duration") {
    if (typeof value !== "string" || !/^\d+(\.\d{1,9})?s$/.test(value))
      errors.push(`${at}: expected a duration like "1.5s", got ${JSON.stringify(value)}`);
    return;
  }
  if (name === ".google.protobuf.Struct" || name === ".google.protobuf.Value") return;
  if (!isObject(value)) {
    errors.push(`${at}: expected a ${name} object, got ${JSON.stringify(value)}`);
    return;
  }
  if (name === ".google.protobuf.Any") {
    const url = value["@type"];
    const typeName = typeof url === "string" ? url.replace(/^type\.googleapis\.com\//, "") : "";
    const target = typeName ? root.lookup(typeName) : null;
    if (!(target instanceof protobuf.Type)) {
      errors.push(`${at}: @type ${JSON.stringify(url)} is not a known message`);
      return;
    }
    const { "@type": _, ...rest } = value;
    checkMessage(root, target, rest, at, errors);
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    const field = type.fields[key];
    const where = `${at}.${key}`;
    if (!field) {
      errors.push(`${where}: no field ${key} in ${name}`);
      continue;
    }
    if (field.options?.["deprecated"] === true) errors.push(`${where}: deprecated`);
    if (field.map) {
      if (!isObject(item)) errors.push(`${where}: expected a map`);
      else for (const [k, v] of Object.entries(item)) checkValue(root, field, v, `${where}[${k}]`, errors);
    } else if (field.repeated) {
      if (!Array.isArray(item)) errors.push(`${where}: expected a list`);
      else for (const [i, v] of item.entries()) checkValue(root, field, v, `${where}[${i}]`, errors);
    } else checkValue(root, field, item, where, errors);
  }
  for (const field of type.fieldsArray) {
    // Inside a oneof the rule only says that the chosen member must be set.
    const required = field.options?.["(validate.rules).message.required"] === true && !field.partOf;
    if (required && !(field.name in value)) errors.push(`${at}: ${name} requires ${field.name}`);
  }
  for (const oneof of type.oneofsArray) {
    const set = oneof.oneof.filter((f) => f in value);
    if (set.length > 1) errors.push(`${at}: only one of ${set.join(", ")} may be set`);
    if (set.length === 0 && oneof.options?.["(validate.required)"] === true)
      errors.push(`${at}: ${name} requires one of ${oneof.oneof.join(", ")}`);
  }
}

/** Every problem found in an Envoy v3 bootstrap, as "path: what is wrong"; empty when it is valid. */
export function envoyBootstrapErrors(bootstrap: unknown): string[] {
  const root = envoyRoot();
  const errors: string[] = [];
  checkMessage(root, root.lookupType("envoy.config.bootstrap.v3.Bootstrap"), bootstrap, "bootstrap", errors);
  return errors;
}
