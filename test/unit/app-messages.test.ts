/** The customer app's message catalogues: every language has every key, with the same placeholders. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const read = (language: string) => JSON.parse(readFileSync(new URL(`../../src/web/app/messages/${language}.json`, import.meta.url), 'utf8')) as Record<string, string>;
const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('customer app message catalogues', () => {
  const en = read('en');
  for (const language of ['de']) {
    it(`${language} has every English key, the same placeholders, and nothing left untranslated by accident`, () => {
      const other = read(language);
      assert.deepEqual(Object.keys(other).sort(), Object.keys(en).sort());
      for (const [key, text] of Object.entries(en)) {
        assert.deepEqual(placeholders(other[key]!), placeholders(text), `${language}.json ${key}: placeholders differ`);
      }
      // Short words can be the same in both languages (PIN, Stumm…); whole sentences cannot.
      const same = Object.keys(en).filter((k) => en[k] === other[k] && en[k]!.split(' ').length > 3);
      assert.deepEqual(same, [], `${language}.json keeps English sentences`);
    });
  }
});
