-- Namespace owners. A namespace belongs to exactly one user.
CREATE TABLE users (
  id text PRIMARY KEY,
  email text NOT NULL UNIQUE,
  namespace text NOT NULL UNIQUE,
  plan text NOT NULL DEFAULT 'builder',
  settings jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  paid_until timestamptz,
  registration_tx_hash text
);

-- Services are owned by a user; the same slug may exist under several owners.
CREATE TABLE services (
  id text PRIMARY KEY,
  owner_user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name text NOT NULL,
  slug text NOT NULL,
  domain text,
  description text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  registration_tx_hash text,
  UNIQUE (owner_user_id, slug)
);

-- Only sha256(key) is stored; key_prefix is "..." plus the last four characters.
CREATE TABLE service_api_keys (
  id text PRIMARY KEY,
  service_id text NOT NULL REFERENCES services(id) ON DELETE CASCADE,
  name text NOT NULL DEFAULT 'Default',
  key_prefix text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  last_used_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  gateway_registered_at timestamptz
);
CREATE INDEX service_api_keys_service_idx ON service_api_keys (service_id) WHERE revoked_at IS NULL;

-- Authorizations ("claims"). Unlike the reference (keyed by slug across owners), a claim belongs to one
-- service row, so two owners with the same slug never see each other's claims. `service` keeps the slug
-- for the wire format.
CREATE TABLE authorizations (
  namespace text NOT NULL REFERENCES users(namespace) ON DELETE CASCADE ON UPDATE CASCADE,
  service_id text NOT NULL REFERENCES services(id) ON DELETE CASCADE,
  service text NOT NULL,
  public_key text NOT NULL,
  claim_id text NOT NULL UNIQUE,
  agent_ip text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'revoked', 'expired')),
  subject text,
  agent_id text,
  agent_name text,
  created_at timestamptz NOT NULL DEFAULT now(),
  approved_at timestamptz,
  revoked_at timestamptz,
  approval_tx_hash text,
  revocation_tx_hash text,
  PRIMARY KEY (namespace, service_id, public_key)
);
CREATE INDEX authorizations_feed_idx ON authorizations (service_id, approved_at DESC, created_at DESC)
  WHERE status = 'approved';
CREATE INDEX authorizations_namespace_idx ON authorizations (namespace, status, created_at DESC);
CREATE INDEX authorizations_pending_idx ON authorizations (created_at) WHERE status = 'pending';

-- Usage events reported by gateways. Keyed per service so one service cannot pre-empt another's ids;
-- no foreign key so the history outlives a deleted service.
CREATE TABLE usage_events (
  service_id text NOT NULL,
  event_id text NOT NULL,
  namespace text NOT NULL,
  service text NOT NULL,
  public_key text NOT NULL,
  subject text NOT NULL,
  agent_id text,
  protocol text NOT NULL,
  action text NOT NULL,
  outcome text NOT NULL,
  status_code integer,
  duration_ms integer,
  response_bytes bigint,
  request_method text,
  request_path text,
  remote_ip text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (service_id, event_id)
);
CREATE INDEX usage_events_namespace_idx ON usage_events (namespace, created_at DESC);

-- Replay window for signed requests and claim nonces when Redis is not configured.
CREATE TABLE request_nonces (
  scope text NOT NULL,
  nonce text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (scope, nonce)
);
CREATE INDEX request_nonces_expiry_idx ON request_nonces (expires_at);
