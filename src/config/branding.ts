/**
 * Checks of the branding keys that JSON Schema cannot express: colours readable on white (the
 * pages put white text on the primary colour and primary-coloured links on white) and a logo
 * that is either a URL or an image file that exists.
 */
import { statSync } from 'node:fs';
import { extname, isAbsolute, resolve } from 'node:path';
import type { Config } from './config.js';

/** Logo files served as they are, by extension. */
export const LOGO_TYPES: Record<string, string> = {
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
};

/** WCAG 2.2 relative luminance of `#rrggbb`. */
function luminance(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
}

/** WCAG contrast ratio of a colour against white, 1 to 21. */
export function contrastOnWhite(hex: string): number {
  return 1.05 / (luminance(hex) + 0.05);
}

export type LogoSource = { kind: 'none' } | { kind: 'url'; url: string } | { kind: 'file'; path: string; contentType: string };

/** What `branding.logo` names; a file relative to `root` (the project root). */
export function logoSource(logo: string, root: string): LogoSource {
  if (!logo) return { kind: 'none' };
  if (/^https?:\/\//i.test(logo)) return { kind: 'url', url: logo };
  return { kind: 'file', path: isAbsolute(logo) ? logo : resolve(root, logo), contentType: LOGO_TYPES[extname(logo).toLowerCase()] ?? '' };
}

export function brandingProblems(b: Config['branding'], root: string): string[] {
  const problems: string[] = [];
  for (const key of ['primaryColor', 'primaryDarkColor'] as const) {
    const ratio = contrastOnWhite(b[key]);
    if (ratio < 4.5) {
      problems.push(`branding.${key}: "${b[key]}" has a contrast of ${ratio.toFixed(2)}:1 against white; white button text and links need at least 4.5:1 (a darker shade)`);
    }
  }
  if (b.name.trim() !== b.name || /[\u0000-\u001f\u007f]/.test(b.name)) {
    problems.push('branding.name: no leading or trailing spaces or control characters');
  }
  const logo = logoSource(b.logo, root);
  if (logo.kind === 'url' && !URL.canParse(logo.url)) problems.push(`branding.logo: "${b.logo}" is not a valid URL`);
  if (logo.kind === 'file') {
    if (!logo.contentType) {
      problems.push(`branding.logo: "${b.logo}" is neither an http(s):// URL nor an image file (${Object.keys(LOGO_TYPES).join(', ')})`);
    } else {
      let isFile = false;
      try {
        isFile = statSync(logo.path).isFile();
      } catch {
        isFile = false;
      }
      if (!isFile) problems.push(`branding.logo: no such file: ${logo.path}`);
    }
  }
  return problems;
}
