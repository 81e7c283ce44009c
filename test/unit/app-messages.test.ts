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

  // A count is `{n}` and lives in a plural key: `key.one` and `key.other` (Intl.PluralRules'
  // forms for English and German), so "1 Minute" never reads "1 Minuten".
  for (const language of ['en', 'de']) {
    it(`${language}: every text with a count has its one and other forms`, () => {
      const messages = read(language);
      const counted = Object.keys(messages).filter((k) => placeholders(messages[k]!).includes('n'));
      assert.ok(counted.length >= 5, 'the durations, PIN attempts, lock time and characters left are counted');
      for (const key of counted) {
        const base = key.replace(/\.(one|other)$/, '');
        assert.notEqual(base, key, `${language}.json ${key}: a count outside a plural key`);
        assert.ok(messages[`${base}.one`] && messages[`${base}.other`], `${language}.json ${base}: one and other forms`);
      }
      assert.ok(!Object.values(messages).some((text) => /\b1 (minutes|hours|days|Minuten|Stunden|Tagen)\b/.test(text)), 'no "1" with a plural noun');
    });
  }

  it('has a sentence for every problem code the API can answer, and a generic one', () => {
    const source = readFileSync(new URL('../../src/domain/errors.ts', import.meta.url), 'utf8');
    const type = /export type ErrorCode =([^;]+);/.exec(source)![1]!;
    const codes = [...type.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!);
    assert.ok(codes.includes('request_expired') && codes.length > 20);
    const missing = [...codes, 'network', 'generic'].filter((code) => !en[`problem.${code}`]);
    assert.deepEqual(missing, [], 'problem codes without a catalogue sentence');
  });
});
