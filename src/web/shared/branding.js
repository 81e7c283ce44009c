/**
 * The bank's branding from the server (`branding.*` in its configuration): name, colours, logo.
 * Loaded once, before the page renders (top-level await); the colours arrive as the stylesheet
 * /branding.css, linked from each page, since the Content-Security-Policy allows no inline style.
 */

const FALLBACK = { name: 'Knock', primaryColor: '#0a4fb5', primaryDarkColor: '#083c8a', logoUrl: null };

async function load() {
  try {
    const res = await fetch('/api/v1/branding');
    return res.ok ? { ...FALLBACK, ...(await res.json()) } : FALLBACK;
  } catch {
    return FALLBACK;
  }
}

/** @type {{ name: string, primaryColor: string, primaryDarkColor: string, logoUrl: string | null }} */
export const branding = await load();

/** The header's brand: the logo (if any) and the name, as `text`. */
export function applyBrand(el, text) {
  if (!el) return;
  el.replaceChildren();
  if (branding.logoUrl) {
    const img = document.createElement('img');
    img.src = branding.logoUrl;
    img.alt = '';
    img.className = 'brand-logo';
    el.append(img);
  }
  el.append(text);
  document.querySelector('meta[name="theme-color"]')?.setAttribute('content', branding.primaryColor);
}
