/**
 * The customer app's words: every customer-facing text comes from a catalogue in messages/
 * (en.json, de.json; the same keys in each), chosen from the browser's languages
 * (navigator.languages, first match on the language subtag) with English as the fallback.
 * Dates and times are formatted with Intl for the chosen locale (shared/format.js).
 *
 * Loaded before anything renders (top-level await), so `t()` works anywhere, module tops
 * included. Placeholders are `{name}`; `{bank}` is the bank's name from the branding.
 */
import { branding } from '../shared/branding.js';
import { setLocale } from '../shared/format.js';

export const LANGUAGES = ['en', 'de'];

/** The first of the browser's languages the app speaks: { language: 'de', tag: 'de-CH' }. */
export function chooseLanguage(preferred) {
  for (const tag of preferred) {
    const language = String(tag).toLowerCase().split('-')[0];
    if (LANGUAGES.includes(language)) return { language, tag };
  }
  return { language: 'en', tag: 'en' };
}

const chosen = chooseLanguage(navigator.languages?.length ? navigator.languages : [navigator.language || 'en']);
export const language = chosen.language;
export const locale = chosen.tag;

async function catalogue(lang) {
  const res = await fetch(new URL(`./messages/${lang}.json`, import.meta.url));
  if (!res.ok) throw new Error(`messages/${lang}.json: ${res.status}`);
  return res.json();
}

const english = await catalogue('en');
const messages = language === 'en' ? english : { ...english, ...(await catalogue(language).catch(() => ({}))) };

setLocale(locale);
document.documentElement.lang = language;

/** The text for `key` with its `{placeholders}` filled; a missing key shows as itself. */
export function t(key, vars = {}) {
  const text = messages[key] ?? key;
  const all = { bank: branding.name, ...vars };
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in all ? String(all[name]) : m));
}

/** "30 minutes", "1 hour", "2 days" */
export function durationText(minutes) {
  if (minutes % 1440 === 0) return minutes === 1440 ? t('time.day') : t('time.days', { n: minutes / 1440 });
  if (minutes % 60 === 0) return minutes === 60 ? t('time.hour') : t('time.hours', { n: minutes / 60 });
  return t('time.minutes', { n: minutes });
}

/** "4 min 05 s", "45 s" */
export function countdownText(ms) {
  const total = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return m > 0 ? t('time.minSec', { m, s: String(s).padStart(2, '0') }) : t('time.sec', { s });
}
