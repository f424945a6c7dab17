import { k8s } from '../k8s';
import { isQuantity } from './k8s-rules';
import { Validator } from './validation';

/**
 * CPU and memory for one container, as numbers so that they can be validated and so that daemons can size
 * themselves from them (memcached's item memory and threads, RabbitMQ's watermark). Every container gets both
 * requests and limits.
 */
export interface ContainerResources {
  /**
   * CPU request, in millicores.
   *
   * @default - the workload's default
   */
  readonly cpuRequestMillis?: number;
  /**
   * CPU limit, in millicores.
   *
   * @default - the workload's default
   */
  readonly cpuLimitMillis?: number;
  /**
   * Memory request, in MiB.
   *
   * @default - the workload's default
   */
  readonly memoryRequestMiB?: number;
  /**
   * Memory limit, in MiB. Memory is not compressible: the daemon is sized from this limit.
   *
   * @default - the workload's default
   */
  readonly memoryLimitMiB?: number;
}

/** Resources with every field set. @internal */
export type ResolvedResources = Required<ContainerResources>;

/** The user's resources over the workload's defaults. @internal */
export function resolveResources(given: ContainerResources | undefined, defaults: ResolvedResources): ResolvedResources {
  return {
    cpuRequestMillis: given?.cpuRequestMillis ?? defaults.cpuRequestMillis,
    cpuLimitMillis: given?.cpuLimitMillis ?? defaults.cpuLimitMillis,
    memoryRequestMiB: given?.memoryRequestMiB ?? defaults.memoryRequestMiB,
    memoryLimitMiB: given?.memoryLimitMiB ?? defaults.memoryLimitMiB,
  };
}

/** Upper bounds far above any node (1,000,000 CPUs, 1 PiB), below where the numbers stop being exact. */
const MAX_RESOURCE: Record<string, number> = { m: 1_000_000_000, Mi: 1024 ** 3 };

/** Records every problem: non-positive or fractional values, requests above limits. @internal */
export function validateResources(v: Validator, prop: string, r: ResolvedResources): void {
  for (const [field, value] of Object.entries(r)) {
    // A safe integer, and a quantity Kubernetes parses: `${1e300}Mi` would be "1e+300Mi", which it refuses.
    const unit = field.startsWith('cpu') ? 'm' : 'Mi';
    v.check(!Number.isSafeInteger(value) || value <= 0 || !isQuantity(`${value}${unit}`) || value > MAX_RESOURCE[unit], `${prop}.${field}`, value,
      `must be a positive whole number, at most ${MAX_RESOURCE[unit]} (${unit === 'm' ? 'millicores: 1000 per CPU' : 'MiB'})`);
  }
  v.check(r.cpuRequestMillis > r.cpuLimitMillis, `${prop}.cpuRequestMillis`, r.cpuRequestMillis,
    `is above the CPU limit (${r.cpuLimitMillis}); lower the request or raise the limit`);
  v.check(r.memoryRequestMiB > r.memoryLimitMiB, `${prop}.memoryRequestMiB`, r.memoryRequestMiB,
    `is above the memory limit (${r.memoryLimitMiB}); lower the request or raise the limit`);
}

/**
 * The container `resources` field. Quantities go through `k8s.Quantity` (a raw string would serialize as null).
 * @internal
 */
export function toResourceRequirements(r: ResolvedResources): k8s.ResourceRequirements {
  return {
    requests: { cpu: k8s.Quantity.fromString(`${r.cpuRequestMillis}m`), memory: k8s.Quantity.fromString(`${r.memoryRequestMiB}Mi`) },
    limits: { cpu: k8s.Quantity.fromString(`${r.cpuLimitMillis}m`), memory: k8s.Quantity.fromString(`${r.memoryLimitMiB}Mi`) },
  };
}
