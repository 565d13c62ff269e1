/** The error catalogue and the JSON error envelope every service answers with (DESIGN.md §5). */
export * from "./errors/catalogue.ts";
export * from "./errors/control-plane.ts";
export { renderErrorDocs } from "./errors/docs.ts";
export * from "./errors/envelope.ts";
