/**
 * A Twilio Programmable Messaging double on 127.0.0.1: POST
 * /2010-04-01/Accounts/{AccountSid}/Messages.json with form-encoded To, From, Body and HTTP Basic
 * auth (account SID : auth token). Answers the way Twilio does:
 * - 201 with the message resource (sid "SM…", status "queued");
 * - 401 with error 20003 on wrong credentials;
 * - 400 with error 21211 when To is not a valid number, including Twilio's documented magic test
 *   number +15005550001 ("invalid number"); 21604 / 21602 when To / Body are missing.
 * Every accepted message is kept in `messages`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SentSms {
  sid: string;
  accountSid: string;
  to: string;
  from: string;
  body: string;
}

export interface FakeTwilio {
  /** Base URL to configure as notify.sms.apiBaseUrl. */
  url: string;
  accountSid: string;
  authToken: string;
  messages: SentSms[];
  /** Every request seen, accepted or not. */
  requests: Array<{ method: string; path: string; status: number }>;
  close(): Promise<void>;
}

/** Twilio's magic "To" number that always fails as invalid (Twilio test credentials). */
export const TWILIO_INVALID_NUMBER = '+15005550001';

const E164 = /^\+[1-9]\d{7,14}$/;

function twilioError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(
    JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }),
  );
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeTwilio(opts: { accountSid?: string; authToken?: string } = {}): Promise<FakeTwilio> {
  const accountSid = opts.accountSid ?? `AC${randomBytes(16).toString('hex')}`;
  const authToken = opts.authToken ?? randomBytes(16).toString('hex');
  const messages: SentSms[] = [];
  const requests: FakeTwilio['requests'] = [];
  const messagesPath = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;

  const server = createServer((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      const path = (req.url ?? '/').split('?')[0]!;
      const answer = (status: number, send: () => void) => {
        requests.push({ method: req.method ?? '', path, status });
        send();
      };
      const m = messagesPath.exec(path);
      if (!m || req.method !== 'POST') {
        answer(404, () => twilioError(res, 404, 20404, 'The requested resource was not found'));
        return;
      }
      const expected = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
      if (req.headers.authorization !== expected || m[1] !== accountSid) {
        answer(401, () => twilioError(res, 401, 20003, 'Authenticate'));
        return;
      }
      const form = new URLSearchParams(raw);
      const to = form.get('To');
      const from = form.get('From') ?? '';
      const body = form.get('Body');
      if (!to) return answer(400, () => twilioError(res, 400, 21604, "A 'To' phone number is required."));
      if (!E164.test(to) || to === TWILIO_INVALID_NUMBER) {
        return answer(400, () => twilioError(res, 400, 21211, `The 'To' number ${to} is not a valid phone number.`));
      }
      if (!body) return answer(400, () => twilioError(res, 400, 21602, 'Message body is required.'));

      const sid = `SM${randomBytes(16).toString('hex')}`;
      messages.push({ sid, accountSid, to, from, body });
      const now = new Date().toUTCString();
      answer(201, () =>
        res.writeHead(201, { 'Content-Type': 'application/json' }).end(
          JSON.stringify({
            sid,
            account_sid: accountSid,
            to,
            from,
            body,
            status: 'queued',
            direction: 'outbound-api',
            api_version: '2010-04-01',
            num_segments: '1',
            num_media: '0',
            price: null,
            price_unit: 'USD',
            error_code: null,
            error_message: null,
            date_created: now,
            date_updated: now,
            date_sent: null,
            messaging_service_sid: null,
            uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
            subresource_uris: { media: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}/Media.json` },
          }),
        ),
      );
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    accountSid,
    authToken,
    messages,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
