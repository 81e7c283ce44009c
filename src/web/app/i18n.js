/**
 * The customer app's words: every customer-facing text comes from a catalogue in messages/
 * (en.json, de.json; the same keys in each), chosen from the browser's languages
 * (navigator.languages, first match on the language subtag) with English as the fallback.
 * Dates and times are formatted with Intl for the chosen locale (shared/format.js).
 *
 * Loaded before anything renders (top-level await), so `t()` works anywhere, module tops
 * included. Placeholders are `{name}`; `{bank}` is the bank's name from the branding.
 */
import { ApiError } from '../shared/api.js';
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

const plurals = new Intl.PluralRules(locale);

/**
 * The text for a count: `key.one`, `key.other` (and any other form the language's
 * Intl.PluralRules names) in the catalogue, `{n}` filled with the count. "1 minute", "2 minutes".
 */
export function tn(key, n, vars = {}) {
  const form = `${key}.${plurals.select(n)}`;
  return t(form in messages ? form : `${key}.other`, { n, ...vars });
}

/** "30 minutes", "1 hour", "2 days" */
export function durationText(minutes) {
  if (minutes % 1440 === 0) return tn('time.days', minutes / 1440);
  if (minutes % 60 === 0) return tn('time.hours', minutes / 60);
  return tn('time.minutes', minutes);
}

/**
 * One sentence for an error, in the app's language. The API's problem `detail` is written in
 * English for people reading logs and English clients; a customer reading another language gets
 * the catalogue's sentence for the problem's stable `code` (`problem.<code>`), or a generic one
 * for a code the catalogue does not know, never the English detail. An error of the app's own
 * code carries its catalogue key (`messageKey`); anything else (a browser's own message) is
 * shown only in English.
 */
export function errorText(e) {
  if (e instanceof ApiError) {
    if (language === 'en' && e.problem?.detail) return e.problem.detail;
    if (e.code === 'auth_failed' && typeof e.problem?.attemptsLeft === 'number') return tn('problem.wrongPin', e.problem.attemptsLeft);
    const key = `problem.${e.code}`;
    return t(key in messages ? key : 'problem.generic');
  }
  if (e?.messageKey) return t(e.messageKey);
  if (language === 'en' && e?.message) return e.message;
  return t('problem.generic');
}

/** An Error whose text is the catalogue's `key` (errorText shows it in the app's language). */
export function appError(key) {
  const err = new Error(t(key));
  err.messageKey = key;
  return err;
}

/** "4 min 05 s", "45 s" */
export function countdownText(ms) {
  const total = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return m > 0 ? t('time.minSec', { m, s: String(s).padStart(2, '0') }) : t('time.sec', { s });
}
