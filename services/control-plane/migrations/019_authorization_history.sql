-- Decided claims that a later request of the same agent key replaced (one live row per namespace, service and key):
-- kept so the owner's history (`status=revoked|rejected|expired`) and `GET /v1/claims/:id` still show them.
-- Same columns, in the same order, as authorizations.
CREATE TABLE authorization_history (
  namespace text NOT NULL REFERENCES users(namespace) ON DELETE CASCADE ON UPDATE CASCADE,
  service_id text NOT NULL REFERENCES services(id) ON DELETE CASCADE,
  service text NOT NULL,
  public_key text NOT NULL,
  claim_id text PRIMARY KEY,
  agent_ip text NOT NULL,
  status text NOT NULL CHECK (status IN ('rejected', 'revoked', 'expired')),
  subject text,
  agent_id text,
  agent_name text,
  created_at timestamptz NOT NULL,
  approved_at timestamptz,
  revoked_at timestamptz,
  approval_tx_hash text,
  revocation_tx_hash text
);
CREATE INDEX authorization_history_namespace_idx ON authorization_history (namespace, status, created_at DESC);
