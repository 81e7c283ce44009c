/**
 * The ceiling for the SIP benchmark: a bare drachtio-srf application on the same
 * drachtio-server that answers every INVITE 200 with a fixed SDP (no token check, no database,
 * no media) and lets drachtio-srf answer the BYE.
 */
import Srf from 'drachtio-srf';
import { BENCH_ANSWER_SDP } from './sip-answer-sdp.js';

export interface BareUas {
  /** INVITE received -> 200 OK handed to drachtio-server, per call, in ms. */
  answerMs: number[];
  stop(): Promise<void>;
}

export async function startBareUas(opts: { host: string; port: number; secret: string }): Promise<BareUas> {
  const srf = new Srf();
  const answerMs: number[] = [];
  srf.invite((req, res) => {
    const t0 = performance.now();
    srf.createUAS(req, res, { localSdp: BENCH_ANSWER_SDP }).then(
      () => void answerMs.push(performance.now() - t0),
      () => undefined,
    );
  });
  await new Promise<void>((resolve, reject) => {
    srf.once('connect', (err) => (err ? reject(err) : resolve()));
    srf.once('error', reject);
    srf.connect({ host: opts.host, port: opts.port, secret: opts.secret } as Srf.SrfConfig);
  });
  return {
    answerMs,
    async stop() {
      srf.disconnect();
    },
  };
}

/**
 * The same bare answer as a handler plugged into the running service's INVITE router in place of
 * the token-checked one: same process, same drachtio connection, no token check, no database.
 * Swapping handlers between steps lets the ceiling and the application run interleaved, rate by
 * rate, so both see the same machine load (a second drachtio-srf application connected to the
 * same drachtio-server at the same time would be handed half of the INVITEs).
 */
export function bareInviteHandler(srf: Srf, answerMs: number[]): (req: Srf.SrfRequest, res: Srf.SrfResponse) => Promise<void> {
  return async (req, res) => {
    const t0 = performance.now();
    await srf.createUAS(req, res, { localSdp: BENCH_ANSWER_SDP }).then(
      () => void answerMs.push(performance.now() - t0),
      () => undefined,
    );
  };
}
