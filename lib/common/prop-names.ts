import { Validator } from './validation';

/**
 * A Validator that records into `target` under the name of the prop the user wrote. Models and renderers name
 * their own fields (`trackCheck.path`, `services[0].discovery.fqdn`); a construct that built the model from its
 * props renames them back (`track`, `services[0].discoverFrom`), so every message names what the user can edit.
 * @internal
 */
export class RenamingValidator extends Validator {
  public constructor(private readonly target: Validator, private readonly rename: (prop: string) => string) {
    super('');
  }

  public add(prop: string, value: unknown, fix: string): void {
    this.target.add(this.rename(prop), value, fix);
  }
}

/** A rename from `[pattern, replacement]` pairs, the first match wins; other props keep their names. @internal */
export function propRenames(rules: ReadonlyArray<readonly [RegExp, string]>): (prop: string) => string {
  return (prop) => {
    for (const [pattern, replacement] of rules) if (pattern.test(prop)) return prop.replace(pattern, replacement);
    return prop;
  };
}
