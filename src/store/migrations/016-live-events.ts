/**
 * Live events shared by every instance (README "Several instances", docs/cluster.md): each change
 * a console or an app stream shows is appended here with a monotonic id, and a NOTIFY wakes the
 * other instances to read from the last id they saw. The id is the SSE `id:`, so a reconnecting
 * stream resumes after its `Last-Event-ID`. `request_id`/`request_version` let a reader keep a
 * request's changes in the order its moves were made. Housekeeping prunes old rows.
 */
export const name = 'live-events';

export const sql = `
CREATE TABLE live_events (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  origin text NOT NULL,
  request_id uuid,
  request_version integer,
  event jsonb NOT NULL
);
CREATE INDEX live_events_at ON live_events (at);
`;
