/** Environment configuration: field builders, parseConfig/ConfigError, and the gateway's variable groups. */
export * from "./config/fields.ts";
export * from "./config/parse.ts";
export * from "./config/schemas.ts";
export * from "./config/service-api-key.ts";
