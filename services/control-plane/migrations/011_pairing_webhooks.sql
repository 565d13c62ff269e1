-- Gateway pairing sessions (spec §B). Only sha256(pair code) is stored; the code is shown once to the owner.
-- Whether a gateway is connected right now is a Redis lease, not a column: the socket may sit on any replica.
CREATE TABLE pairing_sessions (
  id text PRIMARY KEY,
  owner_user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  namespace text NOT NULL,
  code_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  last_connected_at timestamptz,
  failed_attempts integer NOT NULL DEFAULT 0,
  -- The gateway's X25519 public key (base64) announced by the bridge: owners seal secret fields to it.
  gateway_public_key text
);
CREATE INDEX pairing_sessions_owner_idx ON pairing_sessions (owner_user_id, created_at DESC);

-- Webhooks of a service. The signing secret and the optional auth header value are AES-256-GCM sealed
-- (`enc:v1:` values, key from WEBHOOK_SECRET_ENCRYPTION_KEY); nothing secret is stored in clear.
CREATE TABLE webhooks (
  id text PRIMARY KEY,
  service_id text NOT NULL REFERENCES services(id) ON DELETE CASCADE,
  url text NOT NULL,
  events jsonb NOT NULL,
  secret_sealed text NOT NULL,
  auth_header text,
  auth_value_sealed text,
  active boolean NOT NULL DEFAULT true,
  failure_count integer NOT NULL DEFAULT 0,
  last_triggered_at timestamptz,
  last_failure_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_service_idx ON webhooks (service_id) WHERE active;

-- Deliveries given up (24 h retry window exhausted, or the target became invalid): the owner's dead-letter list.
CREATE TABLE webhook_dead_letters (
  id text PRIMARY KEY,
  webhook_id text NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  event text NOT NULL,
  payload jsonb NOT NULL,
  attempts integer NOT NULL,
  last_error text NOT NULL,
  first_attempt_at timestamptz NOT NULL,
  failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_dead_letters_webhook_idx ON webhook_dead_letters (webhook_id, failed_at DESC);
