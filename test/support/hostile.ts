/**
 * Hostile and out-of-range values for the table-driven prop tests (test/hostile-*.test.ts): each case builds a
 * construct with one bad value in one prop and asserts that construction fails with a line that names the prop
 * as the user wrote it, shows the value as given (`show`), and says what to do instead.
 */
import { show } from '../../lib/common/validation';

export { errorOf } from './harness';

/** Strings that break config files, shell commands, YAML or Kubernetes names. */
export const HOSTILE_STRINGS: readonly string[] = [
  '', ' ', 'a\nb', 'a"b', '\'q\'', '{braces}', 'a;b', '`id`', '$(id)', 'x'.repeat(300), 'ünïcödé', 'UPPER', 'a b', '../..', '#c',
];
/** Numbers outside every range: negative, zero, fractions, NaN, infinities, beyond 2^53. */
export const HOSTILE_NUMBERS: readonly number[] = [-1, 0, 0.5, NaN, Infinity, -Infinity, 2 ** 53 + 2];

export type Case = [prop: string, value: unknown, build: () => unknown];

/** One case per value: `prop` set to each of `values` through `apply`. */
export function cases(prop: string, values: readonly unknown[], apply: (value: any) => () => unknown): Case[] {
  return values.map((value) => [prop, value, apply(value)]);
}

/**
 * Asserts the message has a line `- <prop>: <value as shown> <fix>`, the fix being a sentence of at least three
 * words (what is wrong, and what to use instead).
 */
export function expectNamedProblem(message: string, prop: string, value: unknown): void {
  const head = `- ${prop}: ${show(value)} `;
  const line = message.split('\n').find((l) => l.startsWith(head));
  if (!line) throw new Error(`no line starting with ${JSON.stringify(head)} in:\n${message}`);
  expect(line.slice(head.length).split(/\s+/).filter(Boolean).length).toBeGreaterThanOrEqual(3);
}
