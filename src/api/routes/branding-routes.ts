/**
 * The bank's branding for the pages, from `branding.*` in the configuration: its name, colours
 * and logo as JSON for the scripts, the colours as a stylesheet (the Content-Security-Policy
 * allows no inline styles), the logo file, and the app's manifest with the name and colour.
 * Public: the sign-in and enrolment pages need them before any credential exists.
 */
import { Router } from 'express';
import type { Config } from '../../config/config.js';
import { logoSource } from '../../config/branding.js';
import { projectRoot } from '../../config/load-config.js';

export interface Branding {
  name: string;
  primaryColor: string;
  primaryDarkColor: string;
  /** Where the pages load the logo from; null: the built-in icon. */
  logoUrl: string | null;
}

export function brandingOf(config: Pick<Config, 'branding'>): Branding {
  const logo = logoSource(config.branding.logo, projectRoot());
  return {
    name: config.branding.name,
    primaryColor: config.branding.primaryColor.toLowerCase(),
    primaryDarkColor: config.branding.primaryDarkColor.toLowerCase(),
    logoUrl: logo.kind === 'url' ? logo.url : logo.kind === 'file' ? '/branding/logo' : null,
  };
}

const CACHE = 'public, max-age=300';

export function brandingRoutes(config: Pick<Config, 'branding'>): Router {
  const r = Router();
  const branding = brandingOf(config);
  const logo = logoSource(config.branding.logo, projectRoot());

  r.get('/api/v1/branding', (_req, res) => {
    res.setHeader('Cache-Control', CACHE);
    res.json(branding);
  });
  // Validated as #rrggbb at start-up, so nothing but a colour reaches the stylesheet.
  r.get('/branding.css', (_req, res) => {
    res.setHeader('Cache-Control', CACHE);
    res.type('text/css').send(`:root {\n  --primary: ${branding.primaryColor};\n  --primary-dark: ${branding.primaryDarkColor};\n}\n`);
  });
  if (logo.kind === 'file') {
    r.get('/branding/logo', (_req, res, next) => {
      res.setHeader('Cache-Control', CACHE);
      res.type(logo.contentType).sendFile(logo.path, (err) => err && next(err));
    });
  }
  r.get('/app/manifest.webmanifest', (_req, res) => {
    res.setHeader('Cache-Control', CACHE);
    res.type('application/manifest+json').send(
      JSON.stringify({
        name: branding.name,
        short_name: branding.name,
        description: `Answer call requests from ${branding.name}: accept, schedule or be reminded later.`,
        id: '/app/',
        start_url: '/app/',
        scope: '/app/',
        display: 'standalone',
        orientation: 'portrait',
        background_color: '#f3f5f8',
        theme_color: branding.primaryColor,
        icons: [
          { src: 'icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' },
          { src: 'icon-maskable.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'maskable' },
        ],
      }),
    );
  });
  return r;
}
