/**
 * Where the preflight's kubeconfig comes from, in kubectl's order: `--kubeconfig`, `$KUBECONFIG` (a path list),
 * `~/.kube/config`, then the in-cluster service account. Resolved here, before @kubernetes/client-node is asked:
 * with none of them, its `loadFromDefault()` silently falls back to `http://localhost:8080` and the user only sees
 * "HTTP protocol is not allowed when skipTLSVerify is not set or false", which names no cause.
 *
 * Pure (the environment and the file system are passed in), so every case is unit-tested.
 */
import * as path from 'path';

export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export type KubeconfigSource =
  | { readonly kind: 'files'; readonly files: readonly string[]; readonly from: string }
  | { readonly kind: 'in-cluster' }
  | { readonly kind: 'none'; readonly tried: readonly string[] };

export interface KubeconfigEnvironment {
  /** `--kubeconfig`, when given. */
  readonly flag?: string;
  /** `$KUBECONFIG`. */
  readonly kubeconfigEnv?: string;
  /** `$KUBERNETES_SERVICE_HOST` (set in every pod). */
  readonly serviceHost?: string;
  readonly home?: string;
  readonly exists: (file: string) => boolean;
  /** The path list separator (`:`, or `;` on Windows). */
  readonly delimiter?: string;
}

export function locateKubeconfig(env: KubeconfigEnvironment): KubeconfigSource {
  if (env.flag) return { kind: 'files', files: [env.flag], from: '--kubeconfig' };
  const tried: string[] = ['--kubeconfig (not given)'];
  const listed = (env.kubeconfigEnv ?? '').split(env.delimiter ?? path.delimiter).filter((f) => f !== '');
  if (listed.length > 0) {
    // kubectl skips missing files of the list; all missing is an error worth naming.
    const present = listed.filter((f) => env.exists(f));
    if (present.length > 0) return { kind: 'files', files: present, from: '$KUBECONFIG' };
    tried.push(`$KUBECONFIG=${env.kubeconfigEnv} (no such file)`);
  } else {
    tried.push('$KUBECONFIG (not set)');
  }
  if (env.home) {
    const config = path.join(env.home, '.kube', 'config');
    if (env.exists(config)) return { kind: 'files', files: [config], from: '~/.kube/config' };
    tried.push(`${config} (no such file)`);
  } else {
    tried.push('~/.kube/config (no home directory)');
  }
  if (env.serviceHost && env.exists(SERVICE_ACCOUNT_TOKEN)) return { kind: 'in-cluster' };
  tried.push(env.serviceHost ? `the in-cluster service account (${SERVICE_ACCOUNT_TOKEN}: no such file)`
    : 'the in-cluster service account (not in a pod: $KUBERNETES_SERVICE_HOST not set)');
  return { kind: 'none', tried };
}

/** The error for `kind: 'none'`: what was tried, and how to point at a kubeconfig. */
export function noKubeconfigMessage(tried: readonly string[]): string {
  return `no kubeconfig found; tried ${tried.join(', ')}. `
    + 'Pass --kubeconfig <path>, set KUBECONFIG=<path>, or create ~/.kube/config (e.g. with your installer\'s admin kubeconfig)';
}
