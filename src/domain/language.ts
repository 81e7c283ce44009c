/**
 * The languages customer-facing text comes in (the app's catalogue, notifications, SMS,
 * calendar entries). English is the fallback for every other language.
 */
export const LANGUAGES = ['en', 'de'] as const;
export type Language = (typeof LANGUAGES)[number];

export function isLanguage(v: unknown): v is Language {
  return typeof v === 'string' && (LANGUAGES as readonly string[]).includes(v);
}
