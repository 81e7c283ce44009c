/**
 * Pre-authentication token verification speed (SPEC: token checks must cost little next to the
 * signature itself).
 *
 *  - signature path: verifyPreauthSignatureOnly (shape, header, key lookup, ES256 check, payload
 *    parse; no database) against a bare crypto.verify of the same bytes with the same key, in
 *    interleaved rounds; the median of the per-round ratios is the figure (target >= 80 %).
 *  - full path: verifyPreauthToken, which also checks every claim and consumes the jti with one
 *    atomic UPDATE in PostgreSQL, over many distinct tokens issued by the running service.
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { Config } from '../src/config/config.js';
import { isAppError } from '../src/domain/errors.js';
import { verifyPreauthSignatureOnly, verifyPreauthToken } from '../src/security/preauth-token.js';
import type { KeyRing } from '../src/security/signing-keys.js';
import type { TokenRepo } from '../src/store/store.js';
import { inParallel, median, round, summarize, type LatencySummary } from './stats.js';

export interface TokenVerifyOptions {
  keyRing: KeyRing;
  store: { tokens: TokenRepo };
  config: Pick<Config, 'tokens' | 'sip'>;
  /** Fresh tokens issued by the service; each is consumed by the full check. */
  tokens: string[];
  rounds?: number;
  roundMs?: number;
  concurrency?: number;
}

export interface TokenVerifyResult {
  signatureOnlyPerSecond: number;
  rawVerifyPerSecond: number;
  /** Median over rounds of signatureOnly / raw, percent. */
  ratioPercent: number;
  ratioPercentPerRound: number[];
  rounds: number;
  full: {
    tokens: number;
    perSecond: number;
    errors: number;
    errorSamples: string[];
    concurrency: number;
    latency: LatencySummary;
    replayRefused: boolean;
  } | null;
}

/** Calls `fn` in batches until `ms` have passed; returns calls per second. */
function rate(fn: () => void, ms: number): number {
  const batch = 50;
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < batch; i++) fn();
    n += batch;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (n * 1000) / elapsed;
}

function rawParts(token: string): { data: Buffer; signature: Buffer } {
  const d2 = token.lastIndexOf('.');
  return { data: Buffer.from(token.slice(0, d2), 'ascii'), signature: Buffer.from(token.slice(d2 + 1), 'base64url') };
}

export async function benchTokenVerify(opts: TokenVerifyOptions): Promise<TokenVerifyResult> {
  const rounds = opts.rounds ?? 9;
  const roundMs = opts.roundMs ?? 300;
  const sample = opts.tokens[0];
  if (!sample) throw new Error('no tokens to verify');
  const now = new Date();

  // Same key, same bytes for both sides.
  const checked = verifyPreauthSignatureOnly(sample, { keyRing: opts.keyRing, now });
  const key: KeyObject | null = opts.keyRing.verificationKey(checked.kid, now);
  if (!key) throw new Error('the signing key of the sample token is not loaded');
  const { data, signature } = rawParts(sample);
  if (!cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)) throw new Error('sample token does not verify');

  const signatureOnly = () => {
    verifyPreauthSignatureOnly(sample, { keyRing: opts.keyRing, now });
  };
  const raw = () => {
    if (!cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)) throw new Error('raw verify failed');
  };
  // Warm both paths up before measuring.
  rate(signatureOnly, 100);
  rate(raw, 100);

  const ours: number[] = [];
  const bare: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first, so drift in machine load does not favour one side.
    let a: number;
    let b: number;
    if (r % 2 === 0) {
      a = rate(signatureOnly, roundMs);
      b = rate(raw, roundMs);
    } else {
      b = rate(raw, roundMs);
      a = rate(signatureOnly, roundMs);
    }
    ours.push(a);
    bare.push(b);
    ratios.push((100 * a) / b);
  }

  let full: TokenVerifyResult['full'] = null;
  const fresh = opts.tokens.slice(1);
  if (fresh.length > 0) {
    const concurrency = opts.concurrency ?? 16;
    const latencies: number[] = [];
    let errors = 0;
    const errorSamples: string[] = [];
    const start = performance.now();
    await inParallel(fresh, concurrency, async (token, i) => {
      const t0 = performance.now();
      try {
        await verifyPreauthToken(token, {
          keyRing: opts.keyRing,
          store: opts.store,
          issuer: opts.config.tokens.issuer,
          audience: opts.config.sip.domain,
          dialogId: `bench-dialog-${i}`,
          now: new Date(),
        });
      } catch (e) {
        errors += 1;
        if (errorSamples.length < 5) errorSamples.push(isAppError(e) ? `${e.code}: ${e.message}` : String(e));
      }
      latencies.push(performance.now() - t0);
    });
    const elapsed = performance.now() - start;
    // The single-use check must still refuse a second presentation.
    let replayRefused = false;
    try {
      await verifyPreauthToken(fresh[0]!, {
        keyRing: opts.keyRing,
        store: opts.store,
        issuer: opts.config.tokens.issuer,
        audience: opts.config.sip.domain,
        dialogId: 'bench-dialog-replay',
        now: new Date(),
      });
    } catch (e) {
      replayRefused = isAppError(e) && e.code === 'token_replayed';
    }
    full = {
      tokens: fresh.length,
      perSecond: Math.round((fresh.length * 1000) / elapsed),
      errors,
      errorSamples,
      concurrency,
      latency: summarize(latencies),
      replayRefused,
    };
  }

  return {
    signatureOnlyPerSecond: Math.round(median(ours)),
    rawVerifyPerSecond: Math.round(median(bare)),
    ratioPercent: round(median(ratios), 1),
    ratioPercentPerRound: ratios.map((x) => round(x, 1)),
    rounds,
    full,
  };
}
