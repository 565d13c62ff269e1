-- One row per webhook delivery (an event, a test event or a redelivery), updated on each attempt: what the owner's
-- deliveries list shows. The payload itself is not kept here (only in the queue while it is pending, and in
-- webhook_dead_letters once given up). Rows older than 30 days are purged by the sweeper.
CREATE TABLE webhook_deliveries (
  id text PRIMARY KEY,
  webhook_id text NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  event text NOT NULL,
  -- pending (queued) | retrying (an attempt failed, another is scheduled) | delivered | dead_letter | skipped
  status text NOT NULL DEFAULT 'pending',
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  last_http_status integer,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_attempt_at timestamptz,
  next_attempt_at timestamptz
);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at DESC);
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);

-- A dead letter names the delivery it ended (redelivering it starts a new delivery).
ALTER TABLE webhook_dead_letters ADD COLUMN delivery_id text;
