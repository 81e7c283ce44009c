/**
 * Indexes for the lists that must stay flat as the history grows (found by the query-plan test,
 * test/integration/store-query-plans.test.ts, on a database seeded with tens of thousands of
 * past requests):
 *
 * the console's unfiltered request list and its call history are "the first N by time"; without
 * an index in that order each read sorts the whole table. (The queues and callback lists, which
 * filter by open states, already read only open requests, through the partial indexes of 001.)
 */
export const name = 'history-indexes';

export const sql = `
CREATE INDEX call_requests_requested_idx ON call_requests (requested_at, id);
CREATE INDEX call_records_started_idx ON call_records (started_at DESC, id);
`;
