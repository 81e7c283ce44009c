/**
 * What a desk phone is told by the SIP event packages it may subscribe to (RFC 6665): the bodies
 * of the NOTIFYs and what an agent's availability means in each. Pure: no I/O, no clock.
 *
 * - `message-summary` (RFC 3842): the deployment has no voicemail, so every summary says
 *   `Messages-Waiting: no` and the phone's message lamp stays dark.
 * - `dialog` (RFC 4235, application/dialog-info+xml): the busy-lamp field of a colleague's key.
 *   One dialog element per watched extension, as common PBXs send it: `early` while their phone
 *   rings, `confirmed` while they are busy (on a call, or reserved for one), `terminated` when
 *   free. Every document is `full`, so a phone never has to merge partial state.
 * - `presence` (RFC 3856, PIDF RFC 3863 with the RPID activity RFC 4480): `open` while the agent
 *   takes calls (available, or busy with the `on-the-phone` activity), `closed` when away or
 *   offline; the note is what a phone shows.
 */
import type { Availability } from './model.js';

/** The event packages a phone may subscribe to, in the order Allow-Events lists them. */
export const EVENT_PACKAGES = ['message-summary', 'dialog', 'presence'] as const;
export type EventPackage = (typeof EVENT_PACKAGES)[number];

export function isEventPackage(event: string): event is EventPackage {
  return (EVENT_PACKAGES as readonly string[]).includes(event);
}

/** The body type each package's NOTIFY carries (what the SUBSCRIBE's Accept must allow). */
export const EVENT_CONTENT_TYPE: Record<EventPackage, string> = {
  'message-summary': 'application/simple-message-summary',
  dialog: 'application/dialog-info+xml',
  presence: 'application/pidf+xml',
};

/** What the watched agent is doing, as far as the phones watching them are concerned. */
export type LineState = 'ringing' | 'busy' | 'free' | 'away' | 'offline';

/** An agent's line state from their availability; `ringing` is known only from a call ringing them. */
export function lineStateOf(availability: Availability, ringing: boolean): LineState {
  if (availability === 'busy') return ringing ? 'ringing' : 'busy';
  if (availability === 'available') return 'free';
  return availability;
}

/**
 * The state a package reports for a line state: two line states that read the same to a phone
 * (free, away and offline are all "no call" to a busy lamp) give the same value, so a change that
 * does not show is not sent.
 */
export function reportedState(event: EventPackage, line: LineState): string {
  switch (event) {
    case 'message-summary':
      return 'no-messages';
    case 'dialog':
      return line === 'ringing' ? 'early' : line === 'busy' ? 'confirmed' : 'terminated';
    case 'presence':
      return line === 'ringing' || line === 'busy' ? 'on-the-phone' : line;
  }
}

/** The expiry granted for a SUBSCRIBE (RFC 6665 §4.2.1.1): null means 423 Interval Too Brief. */
export function grantedExpiry(requested: number | null, bounds: { minExpires: number; maxExpires: number; defaultExpires: number }): number | null {
  if (requested === null) return Math.min(bounds.defaultExpires, bounds.maxExpires);
  if (requested === 0) return 0;
  if (requested < bounds.minExpires) return null;
  return Math.min(requested, bounds.maxExpires);
}

function xmlText(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export interface NotifyContent {
  contentType: string;
  body: string;
}

/**
 * The body of a NOTIFY. `entity` is the watched resource's SIP URI, `version` the subscription's
 * NOTIFY counter (RFC 4235 §4.1: one more for every document sent in it), `state` the package's
 * reported state.
 */
export function notifyContent(event: EventPackage, args: { entity: string; version: number; state: string; extension: string }): NotifyContent {
  const entity = xmlText(args.entity);
  switch (event) {
    case 'message-summary':
      // RFC 3842 §5.2: the status line is all a phone needs; Message-Account names the mailbox.
      return { contentType: EVENT_CONTENT_TYPE[event], body: `Messages-Waiting: no\r\nMessage-Account: ${args.entity}\r\n` };
    case 'dialog': {
      const ext = xmlText(args.extension);
      // RFC 4235 §4.1.6.2: direction says who rang whom; an early dialog here is a call ringing them.
      const direction = args.state === 'early' ? ' direction="recipient"' : '';
      return {
        contentType: EVENT_CONTENT_TYPE[event],
        body:
          `<?xml version="1.0" encoding="UTF-8"?>\n` +
          `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="${args.version}" state="full" entity="${entity}">\n` +
          `  <dialog id="${ext}"${direction}>\n` +
          `    <state>${xmlText(args.state)}</state>\n` +
          `  </dialog>\n` +
          `</dialog-info>\n`,
      };
    }
    case 'presence': {
      const open = args.state === 'free' || args.state === 'on-the-phone';
      const note = { free: 'Available', 'on-the-phone': 'On the phone', away: 'Away', offline: 'Offline' }[args.state] ?? args.state;
      const activity = args.state === 'on-the-phone' ? '\n    <rpid:activities><rpid:on-the-phone/></rpid:activities>' : args.state === 'away' ? '\n    <rpid:activities><rpid:away/></rpid:activities>' : '';
      return {
        contentType: EVENT_CONTENT_TYPE[event],
        body:
          `<?xml version="1.0" encoding="UTF-8"?>\n` +
          `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="${entity}">\n` +
          `  <tuple id="${xmlText(args.extension)}">\n` +
          `    <status><basic>${open ? 'open' : 'closed'}</basic></status>\n` +
          `  </tuple>\n` +
          `  <dm:person id="p-${xmlText(args.extension)}">${activity}\n` +
          `    <dm:note>${xmlText(note)}</dm:note>\n` +
          `  </dm:person>\n` +
          `</presence>\n`,
      };
    }
  }
}
