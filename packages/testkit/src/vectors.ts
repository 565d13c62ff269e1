import { readFileSync } from "node:fs";
import { z } from "zod";

const vectorSchema = z.object({
  name: z.string(),
  identity: z.string(),
  method: z.string(),
  url: z.string(),
  headers: z.record(z.string(), z.string()),
  body_base64: z.string().nullable(),
  expect: z.object({
    valid: z.boolean(),
    namespace: z.string().optional(),
    subject: z.string().optional(),
    keyId: z.string().optional(),
    reference_code: z.string().optional(),
  }),
  derived_from: z.string().optional(),
});

const fileSchema = z.object({
  created_unix: z.number(),
  identities: z.record(
    z.string(),
    z.object({
      namespace: z.string(),
      did: z.string(),
      keyId: z.string(),
      publicKey: z.string(),
      privateKeyBase64: z.string(),
      certificate: z.looseObject({}),
    }),
  ),
  valid: z.array(vectorSchema),
  invalid: z.array(vectorSchema),
});

export type SdkVector = z.infer<typeof vectorSchema>;

/** The reference SDK's signature vectors, kept in this package (see vectors/README.md). */
export const sdkVectors = fileSchema.parse(
  JSON.parse(readFileSync(new URL("../vectors/sigilum-sdk-vectors.json", import.meta.url), "utf8")),
);

export function vectorBody(vector: SdkVector): Uint8Array | null {
  return vector.body_base64 === null ? null : Buffer.from(vector.body_base64, "base64");
}
