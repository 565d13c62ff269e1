import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";

/**
 * Webhook signing secrets and auth header values at rest: `enc:v1:<base64 IV>:<base64 ciphertext‖tag>`,
 * AES-256-GCM (the reference's format). The key is SHA-256 of WEBHOOK_SECRET_ENCRYPTION_KEY when set, else
 * derived (HKDF) from the JWT secret, which every replica already shares.
 */

const PREFIX = "enc:v1:";

export interface WebhookSecretBox {
  seal(plaintext: string): string;
  open(stored: string): string;
}

export function webhookKey(configured: string | undefined, jwtSecret: string): Buffer {
  if (configured) return createHash("sha256").update(configured, "utf8").digest();
  return Buffer.from(hkdfSync("sha256", jwtSecret, "sigilum-control-plane", "webhook-secrets v1", 32));
}

export function createWebhookSecretBox(key: Buffer): WebhookSecretBox {
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
      return `${PREFIX}${iv.toString("base64")}:${ct.toString("base64")}`;
    },
    open(stored) {
      if (!stored.startsWith(PREFIX)) throw new Error("webhook secret is not sealed");
      const [ivText, ctText] = stored.slice(PREFIX.length).split(":");
      const iv = Buffer.from(ivText ?? "", "base64");
      const data = Buffer.from(ctText ?? "", "base64");
      const decipher = createDecipheriv("aes-256-gcm", key, iv);
      decipher.setAuthTag(data.subarray(data.length - 16));
      return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString(
        "utf8",
      );
    },
  };
}
