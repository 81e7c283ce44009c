/**
 * INVITEs this service must leave unanswered, because any answer would take drachtio-server down.
 *
 * drachtio-server (0.9.x) builds a dialog object for the first response the application sends to
 * a new INVITE, whatever its status (a 400 or a 401 as much as a 200), and that constructor
 * asserts that the INVITE's From had a tag (`sip-dialog.cpp: Assertion 'rtag' failed`): the
 * process aborts, with every registration flow and call it carries. RFC 3261 §8.1.1.3 makes the
 * From tag mandatory, so a tagless INVITE is malformed or hostile; it is dropped here without a
 * response. drachtio-server has already sent 100 Trying, ignores retransmissions, and forgets the
 * request after 64 s; the caller's transaction times out (Timer B). No answer of ours can be
 * made safe: drachtio-srf has no stateless reply, and drachtio-server's own checks (sofia's
 * sanity check) do not look at the tag.
 *
 * The tag is read the way drachtio-srf parses From (name-addr: parameters after `>`; addr-spec:
 * parameters after the URI), never from the display name or inside the URI; a From it cannot
 * parse counts as tagless. Being stricter than drachtio-server here only costs a broken client a
 * timeout; being looser would cost the server.
 */
import { fromTagOf, type SipRequest } from './sip-message.js';

/** Why this INVITE must not be answered at all, or null when it may be. */
export function unanswerableInvite(req: SipRequest): string | null {
  if (req.method !== 'INVITE') return null;
  if (fromTagOf(req) === '') return 'From without a tag (RFC 3261 section 8.1.1.3)';
  return null;
}

/**
 * One log line per source address and minute for dropped requests: a flood of them must not
 * flood the log either.
 */
export function dropLogger(clock: () => Date, log: (source: string, why: string, dropped: number) => void): (source: string, why: string) => void {
  const seen = new Map<string, { since: number; dropped: number }>();
  return (source, why) => {
    const now = clock().getTime();
    const entry = seen.get(source);
    if (entry && now - entry.since < 60_000) {
      entry.dropped++;
      return;
    }
    if (seen.size > 10_000) seen.clear();
    seen.set(source, { since: now, dropped: 1 });
    log(source, why, (entry?.dropped ?? 0) + 1);
  };
}
