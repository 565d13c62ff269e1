export * from "./identity/certificate.ts";
export * from "./identity/keys.ts";
export * from "./identity/namespace.ts";
export * from "./identity/store.ts";
