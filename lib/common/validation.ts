import { isIP } from 'net';
import { predicates } from '../../plugins/k8s-api-rules';

/**
 * Collects every problem with a construct's props, then throws once, so that a user fixes all of them in one
 * round instead of one per synth. Each problem names the prop, the bad value and the fix:
 *
 *   GaleraPetSet 'db' has invalid props:
 *   - replicas: 4 is even; use an odd number (3, 5, 7) so a partition always leaves one side with quorum
 */
export class Validator {
  private readonly problems: string[] = [];

  /** @param subject what is being validated, e.g. `GaleraPetSet 'db'` */
  public constructor(private readonly subject: string) {}

  /** Records a problem. `value` is rendered with JSON so that '' and undefined are visible. */
  public add(prop: string, value: unknown, fix: string): void {
    this.problems.push(`${prop}: ${show(value)} ${fix}`);
  }

  /** Records a problem when `condition` is true. Returns `condition` so checks can be chained. */
  public check(condition: boolean, prop: string, value: unknown, fix: string): boolean {
    if (condition) this.add(prop, value, fix);
    return condition;
  }

  /** Problems so far (a copy). */
  public get errors(): string[] {
    return [...this.problems];
  }

  /** Merges the problems of a nested validator (e.g. a shared building block such as Placement). */
  public merge(other: Validator): void {
    this.problems.push(...other.problems);
  }

  /** Throws one Error listing every problem, if there is any. */
  public throwIfInvalid(): void {
    if (this.problems.length === 0) return;
    throw new Error(`${this.subject} has invalid props:\n${this.problems.map((p) => `- ${p}`).join('\n')}`);
  }
}

/**
 * One problem found by a pure rule function (no Validator at hand, e.g. a renderer checking its own model): the
 * field as the user's prop names it, its bad value, the fix. A construct passes each to `Validator.add`.
 */
export interface FieldProblem {
  readonly field: string;
  readonly value: unknown;
  readonly fix: string;
}

/** Collects FieldProblems: `check(bad, field, value, fix)` records one when `bad` holds and returns `bad`. */
export function fieldProblems(): { problems: FieldProblem[]; check: (bad: boolean, field: string, value: unknown, fix: string) => boolean } {
  const problems: FieldProblem[] = [];
  const check = (bad: boolean, field: string, value: unknown, fix: string) => {
    if (bad) problems.push({ field, value, fix });
    return bad;
  };
  return { problems, check };
}

/**
 * The value as the user wrote it: JSON, except that NaN and Infinity (which JSON turns into `null`) and undefined
 * stay visible, also inside arrays and objects.
 */
export function show(value: unknown): string {
  if (value === undefined) return '(not set)';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (Array.isArray(value)) return `[${value.map((x) => (x === undefined ? 'undefined' : show(x))).join(',')}]`;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return `{${Object.entries(value).map(([k, x]) => `${JSON.stringify(k)}:${x === undefined ? 'undefined' : show(x)}`).join(',')}}`;
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** RFC 1123 label, as Kubernetes requires for node and object names (the API-rules check's predicate, one copy). */
export function isDns1123Label(name: string): boolean {
  return predicates.isDns1123Label(name);
}

/** RFC 1123 subdomain (dot-separated labels, at most 253), as Kubernetes allows for node names. */
export function isDns1123Subdomain(name: string): boolean {
  return predicates.isDns1123Subdomain(name);
}

/** A literal IPv4 or IPv6 address (no prefix, no brackets). */
export function isIpAddress(address: string): boolean {
  return isIP(address) !== 0;
}

export function isIpv6(address: string): boolean {
  return isIP(address) === 6;
}

/** A TCP/UDP port number. */
export function isPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/** `host:port`, with IPv6 hosts in brackets as clients (oslo, memcache, AMQP URLs) expect them. */
export function hostPort(host: string, port: number): string {
  return isIpv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Values that occur more than once, in first-seen order. */
export function duplicates<T>(values: readonly T[]): T[] {
  const seen = new Set<T>();
  const dup = new Set<T>();
  for (const v of values) {
    if (seen.has(v)) dup.add(v);
    seen.add(v);
  }
  return [...dup];
}
