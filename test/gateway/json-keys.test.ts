import { describe, expect, it } from 'vitest';
import { hasDuplicateKeys } from '../../packages/gateway/src/http/app.ts';

describe('duplicate JSON keys', () => {
  it.each([
    ['{"a":1,"b":2}', false],
    ['{"a":1,"a":2}', true],
    [String.raw`{"a":1,"\u0061":2}`, true],
    ['{"a":{"a":1},"b":[{"a":1},{"a":2}]}', false],
    [String.raw`{"a":"x\"a\":", "b": 1}`, false],
    ['{"members":[{"userId":"u","group":"g"},{"userId":"v","group":"g"}],"userId":"w"}', false],
    ['{"a" : 1, "a"\n: 2}', true],
    ['[{"a":1},{"b":{"c":1,"c":2}}]', true],
    [String.raw`{"a":"\\","a":1}`, true],
    ['not json', false],
  ])('%s: %s', (text, expected) => {
    expect(hasDuplicateKeys(text)).toBe(expected);
  });
});
