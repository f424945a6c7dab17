/** Types of the API-rules check (index.js): TypeScript users (the harness, the preflight, the fake API server) import these. */

/**
 * `api`: the API server refuses the object; `controller`: a controller or the kubelet does; `version`: a supported
 * version drops a field; `convention`: Kubernetes tolerates it, this library never emits it.
 */
export type RuleLevel = 'api' | 'controller' | 'version' | 'convention';

export interface Problem {
  readonly rule: string;
  readonly level: RuleLevel;
  /** The Kubernetes function the rule mirrors. */
  readonly source: string;
  /** `Kind/name`. */
  readonly object: string;
  /** The field path, as the API server names it. */
  readonly path: string;
  /** What Kubernetes says, then the fix. */
  readonly message: string;
}

export interface Rule {
  readonly id: string;
  readonly level: RuleLevel;
  readonly source: string;
}

export interface RuleOptions {
  /** Only rules of these levels (default: all). */
  readonly levels?: RuleLevel[];
  /** The oldest Kubernetes the objects must work on (default MIN_KUBERNETES_VERSION). */
  readonly minVersion?: string;
  /** Every namespaced object must name its namespace. */
  readonly requireNamespace?: boolean;
}

export const RULES: Rule[];
export const SET_RULES: Rule[];
export function objectProblems(o: unknown, options?: RuleOptions): Problem[];
export function apiRuleProblems(objects: unknown[], options?: RuleOptions): Problem[];
export function formatProblem(p: Problem): string;
export function invalidMessage(o: unknown, problems: Problem[]): string;
export function compareVersions(a: string, b: string): number;
export const MIN_KUBERNETES_VERSION: string;
export const MAX_TESTED_KUBERNETES_VERSION: string;
export const FIELD_VERSIONS: { kind: string; path: string; since: string | undefined; feature: string }[];
export const CLUSTER_SCOPED_KINDS: Set<string>;
/** apimachinery's util/validation predicates, and the kubelet's image reference and quantity grammars. */
export const predicates: {
  isDns1123Label(s: unknown): boolean;
  isDns1123Subdomain(s: unknown): boolean;
  isDns1035Label(s: unknown): boolean;
  isQualifiedName(s: unknown): boolean;
  isLabelValue(s: unknown): boolean;
  isPortName(s: unknown): boolean;
  isEnvVarName(s: unknown): boolean;
  isConfigMapKey(s: unknown): boolean;
  isQuantity(q: unknown): boolean;
  isImageReference(s: unknown): boolean;
  parseCidr(s: unknown): { family: number; bits: number; network: bigint; hostBits: boolean } | undefined;
  parseQuantity(q: unknown): number | undefined;
};
export class K8sApiRulesValidation {
  validate(context: unknown): Promise<void>;
}
