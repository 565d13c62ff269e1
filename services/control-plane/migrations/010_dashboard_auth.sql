-- Dashboard sign-in. Passkeys (WebAuthn credentials) of each owner; `id` is the credential id (base64url).
CREATE TABLE webauthn_credentials (
  id text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  public_key bytea NOT NULL,
  counter bigint NOT NULL DEFAULT 0,
  device_type text NOT NULL,
  backed_up boolean NOT NULL DEFAULT false,
  transports text NOT NULL DEFAULT '',
  name text NOT NULL DEFAULT 'My Passkey',
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz
);
CREATE INDEX webauthn_credentials_user_idx ON webauthn_credentials (user_id, created_at);

-- Outstanding WebAuthn challenges; each is consumed by the one verification that uses it.
CREATE TABLE webauthn_challenges (
  challenge text PRIMARY KEY,
  type text NOT NULL CHECK (type IN ('registration', 'authentication', 'passkey')),
  user_id text REFERENCES users(id) ON DELETE CASCADE,
  email text,
  namespace text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webauthn_challenges_created_idx ON webauthn_challenges (created_at);

-- One-time login links (`sigilum auth login --open`): only sha256(token) is stored.
CREATE TABLE login_links (
  token_hash text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_links_expiry_idx ON login_links (expires_at);
