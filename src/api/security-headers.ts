/**
 * Security headers on every answer (helmet), and `no-store` for answers that carry a credential.
 *
 * The Content-Security-Policy fits the static pages in src/web: ES modules and stylesheets from
 * this origin only (nothing inline: no inline scripts, styles, style attributes or handlers),
 * fetch/SSE to this origin, and one more connect target: the SIP server's WebSocket
 * (`sip.wsUrl`), which the customer app's call and registration open. The service worker and the
 * manifest come from this origin; the audio of a call is a MediaStream (srcObject), which the CSP
 * does not govern. No page may be framed (clickjacking), and no referrer leaves the pages (request
 * ids live in URL fragments).
 */
import type { RequestHandler } from 'express';
import helmet from 'helmet';
import type { Config } from '../config/config.js';

export function contentSecurityPolicy(config: Pick<Config, 'server' | 'sip' | 'branding'>): Record<string, string[]> {
  const https = config.server.publicUrl.startsWith('https:');
  // A logo given as a URL (branding.logo) is the one image from another origin.
  const logoOrigin = /^https?:\/\//i.test(config.branding.logo) ? [new URL(config.branding.logo).origin] : [];
  return {
    'default-src': ["'self'"],
    'base-uri': ["'self'"],
    'script-src': ["'self'"],
    'script-src-attr': ["'none'"],
    'style-src': ["'self'"],
    'img-src': ["'self'", ...logoOrigin],
    'font-src': ["'self'"],
    'connect-src': ["'self'", new URL(config.sip.wsUrl).origin],
    'media-src': ["'self'"],
    'worker-src': ["'self'"],
    'manifest-src': ["'self'"],
    'object-src': ["'none'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"],
    // Only behind HTTPS: on plain HTTP (development) it would rewrite ws:// and same-origin URLs.
    ...(https ? { 'upgrade-insecure-requests': [] } : {}),
  };
}

export function securityHeaders(config: Pick<Config, 'server' | 'sip' | 'branding'>): RequestHandler {
  const https = config.server.publicUrl.startsWith('https:');
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: contentSecurityPolicy(config) },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // HSTS only means something over HTTPS; subdomains are the deployment's to decide.
    strictTransportSecurity: https ? { maxAge: 31_536_000, includeSubDomains: false } : false,
  });
}

/**
 * RFC 6749 §5.1 style: an answer carrying a credential or token (sign-in token, enrollment code,
 * device credential, API key, pre-authentication or registration token) is never stored by a
 * browser or proxy cache.
 */
export const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
  next();
};
