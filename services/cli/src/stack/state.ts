import { readFile, rm } from "node:fs/promises";
import { z } from "zod";
import { writeSecretFile } from "../core/files.ts";
import type { StackLayout } from "./layout.ts";

/** What `up` records about a running stack, so other commands find it (random ports included). */
const stateSchema = z.object({
  version: z.literal(1),
  started_at: z.string(),
  mode: z.enum(["background", "foreground"]),
  authz_mode: z.string(),
  gateway_namespace: z.string(),
  /** The stack's own PostgreSQL server, or DATABASE_URL's. */
  database: z.enum(["embedded-postgres", "postgres"]),
  redis: z.object({ embedded: z.boolean(), url: z.string(), prefix: z.string() }),
  urls: z.object({
    gateway: z.string(),
    admin: z.string(),
    verifier: z.string(),
    control_plane: z.string(),
  }),
  services: z.record(
    z.string(),
    z.object({
      /** null while the supervisor waits to restart it. */
      pid: z.number().int().positive().nullable(),
      addr: z.string(),
      url: z.string(),
      health: z.string(),
      log: z.string(),
      /** Restarts by the supervisor after a crash, and the last crash's exit code. */
      restarts: z.number().int().nonnegative().default(0),
      last_exit_code: z.number().int().nullable().default(null),
    }),
  ),
});

export type StackState = z.infer<typeof stateSchema>;

export async function readStackState(layout: StackLayout): Promise<StackState | undefined> {
  let text: string;
  try {
    text = await readFile(layout.stateFile, "utf8");
  } catch {
    return undefined;
  }
  try {
    const parsed = stateSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export async function writeStackState(layout: StackLayout, state: StackState): Promise<void> {
  await writeSecretFile(layout.stateFile, JSON.stringify(state, null, 2));
}

export async function removeStackState(layout: StackLayout): Promise<void> {
  await rm(layout.stateFile, { force: true });
}
