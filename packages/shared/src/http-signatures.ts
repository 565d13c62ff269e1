export * from "./http-signatures/content-digest.ts";
export * from "./http-signatures/profile.ts";
export * from "./http-signatures/rfc9421.ts";
export * from "./http-signatures/sign.ts";
export * from "./http-signatures/verify.ts";
