/**
 * The version an image reference's tag names (`docker.io/library/mariadb:11.4.7`, `rabbitmq:4.0.9-management`,
 * `mariadb:10.11-jammy`): what the day-2 rules compare between what runs and what would be applied.
 *
 * Plain TypeScript, no cdk8s: the preflight CLI bundles it.
 */
export interface ImageTagVersion {
  readonly major: number;
  readonly minor: number;
  /** Absent when the tag names only a series (`10.11-jammy`). */
  readonly patch?: number;
  /** `11.4`: the release series (MariaDB) or line (RabbitMQ). */
  readonly series: string;
  /** `11.4.7`, or the series when the tag names no patch release. */
  readonly text: string;
}

/** The version in an image's tag (a digest after it is allowed), or undefined without a tag that starts with one. */
export function imageTagVersion(image: string): ImageTagVersion | undefined {
  const tag = /:([^/:@]+)(@sha256:[0-9a-f]+)?$/.exec(image)?.[1];
  const m = tag === undefined ? null : /^(\d+)\.(\d+)(?:\.(\d+))?(?:[-_].*)?$/.exec(tag);
  if (!m) return undefined;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const patch = m[3] === undefined ? undefined : Number(m[3]);
  const series = `${major}.${minor}`;
  return { major, minor, ...(patch !== undefined ? { patch } : {}), series, text: patch === undefined ? series : `${series}.${patch}` };
}
