/**
 * The agent's own problem collector: every bad environment variable is reported at once, naming the variable, its
 * value and the fix. The agent bundle depends on nothing outside lib/galera/agent (it runs in a pod from one file,
 * and its size and imports are part of its contract), so it does not use the library's Validator.
 */
export class Problems {
  private readonly lines: string[] = [];

  public constructor(private readonly subject: string) {}

  /** Records a problem: `variable: "value" fix`. */
  public add(variable: string, value: string | undefined, fix: string): void {
    this.lines.push(`${variable}: ${value === undefined ? '(not set)' : JSON.stringify(value)} ${fix}`);
  }

  /** Records a problem when `condition` holds; returns `condition`. */
  public check(condition: boolean, variable: string, value: string | undefined, fix: string): boolean {
    if (condition) this.add(variable, value, fix);
    return condition;
  }

  /** Throws one Error listing every problem, if there is any. */
  public throwIfAny(): void {
    if (this.lines.length > 0) throw new Error(`${this.subject} has invalid props:\n${this.lines.map((l) => `- ${l}`).join('\n')}`);
  }
}
