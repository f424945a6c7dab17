import { k8s } from '../k8s';
import { Validator } from './validation';

/**
 * A reference to one key of an existing Kubernetes Secret. No API of this library accepts a secret as a plain
 * string: passwords, cookies and keys reach containers through `secretKeyRef` env vars or Secret volumes, so the
 * synthesized YAML never holds a secret value.
 */
export class SecretValue {
  /**
   * @param secretName name of an existing Secret in the chart's namespace (DNS-1123 subdomain)
   * @param key key inside that Secret
   */
  public static fromSecret(secretName: string, key: string): SecretValue {
    return new SecretValue(secretName, key);
  }

  private constructor(public readonly secretName: string, public readonly key: string) {}

  /** Problems with this reference, as `Validator` lines (empty when valid). @internal */
  public _problems(): string[] {
    const problems: string[] = [];
    if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(this.secretName)) {
      problems.push(`secret name ${JSON.stringify(this.secretName)} is not a valid Secret name; use a DNS-1123 subdomain such as "galera-root"`);
    }
    if (!/^[-._a-zA-Z0-9]{1,253}$/.test(this.key)) {
      problems.push(`secret key ${JSON.stringify(this.key)} is not a valid Secret key; use letters, digits, '-', '_' or '.'`);
    }
    return problems;
  }

  /** An env var that reads this Secret key. @internal */
  public _toEnvVar(name: string): k8s.EnvVar {
    return { name, valueFrom: { secretKeyRef: { name: this.secretName, key: this.key } } };
  }

  /** `name/key`, for messages and summaries (never the value, which this library never sees). */
  public toString(): string {
    return `${this.secretName}/${this.key}`;
  }
}

/**
 * Records every problem with a prop that must be a Secret reference: an inline password, a bad Secret name or key.
 * @internal
 */
export function validateSecretValue(v: Validator, prop: string, secret: unknown): void {
  if (!(secret instanceof SecretValue)) {
    // Never echo what was given: it may be the password itself, inline or inside an object.
    const given = secret === undefined ? undefined : secret === null ? '(null)' : `(a${typeof secret === 'object' ? 'n' : ''} ${typeof secret})`;
    v.add(prop, given, 'must be a Secret reference, never an inline password: SecretValue.fromSecret("name", "key")');
    return;
  }
  for (const problem of secret._problems()) v.add(prop, secret.toString(), problem);
}

/**
 * Mode of a password file in a Secret volume: the kubelet makes the files root's with the pod's fsGroup as group, and
 * the daemons run in that group, so 0440 lets them (and nobody else) read it; 0400 would lock them out.
 * @internal
 */
export const SECRET_FILE_MODE = 0o440;

/**
 * A projected volume holding each Secret key as the file `path` (keys of many Secrets in one directory, mode
 * SECRET_FILE_MODE). Mount it whole, never with a subPath: the kubelet then updates the files in place when a Secret
 * changes, which is what the live password rotations (Galera, RabbitMQ, ProxySQL) rely on.
 * @internal
 */
export function secretFilesVolume(name: string, files: ReadonlyArray<{ readonly secret: SecretValue; readonly path: string }>): k8s.Volume {
  return {
    name,
    projected: {
      defaultMode: SECRET_FILE_MODE,
      sources: files.map((f) => ({ secret: { name: f.secret.secretName, items: [{ key: f.secret.key, path: f.path, mode: SECRET_FILE_MODE }] } })),
    },
  };
}

/**
 * `@@NAME@@`: where a secret's value goes in a rendered template. The start scripts (ProxySQL, RabbitMQ) replace it
 * with the value of env var NAME, fed by a Secret reference; connection outputs list the Secret each stands for.
 * @internal
 */
export function envPlaceholder(envName: string): string {
  return `@@${envName}@@`;
}
