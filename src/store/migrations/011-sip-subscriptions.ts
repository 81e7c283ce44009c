/**
 * Desk phones' event subscriptions (RFC 6665): message-summary, and the busy-lamp packages dialog
 * and presence. One row per subscription dialog, keyed by drachtio-server's dialog id, so any
 * instance connected to that drachtio-server can refresh, notify or end it, and a restart forgets
 * nothing. `version` counts the NOTIFYs sent in the subscription (RFC 4235 §4.1 document version)
 * and `reported` is the state the last one told, so a change is sent once whoever sees it.
 */
export const name = 'sip-subscriptions';

export const sql = `
CREATE TABLE sip_subscriptions (
  dialog_id   text PRIMARY KEY CHECK (length(dialog_id) > 0),
  event       text NOT NULL CHECK (event IN ('message-summary', 'dialog', 'presence')),
  subscriber  text NOT NULL,
  target      text NOT NULL,
  entity      text NOT NULL,
  version     bigint NOT NULL DEFAULT 0,
  reported    text,
  expires_at  timestamptz NOT NULL,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);
CREATE INDEX sip_subscriptions_target_idx ON sip_subscriptions (target, event);
CREATE INDEX sip_subscriptions_expires_idx ON sip_subscriptions (expires_at);
`;
