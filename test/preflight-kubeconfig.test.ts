import { locateKubeconfig, noKubeconfigMessage, SERVICE_ACCOUNT_TOKEN } from '../lib/cli/preflight/kubeconfig';

const existing = (...files: string[]) => (f: string) => files.includes(f);

describe('where the preflight finds its kubeconfig (kubectl\'s order)', () => {
  test('--kubeconfig first, even when other sources exist', () => {
    expect(locateKubeconfig({ flag: '/k', kubeconfigEnv: '/e', home: '/root', exists: existing('/e', '/root/.kube/config') }))
      .toEqual({ kind: 'files', files: ['/k'], from: '--kubeconfig' });
  });

  test('$KUBECONFIG: every listed file that exists, in order; missing ones skipped', () => {
    expect(locateKubeconfig({ kubeconfigEnv: '/a:/missing:/b', delimiter: ':', home: '/root', exists: existing('/a', '/b', '/root/.kube/config') }))
      .toEqual({ kind: 'files', files: ['/a', '/b'], from: '$KUBECONFIG' });
  });

  test('~/.kube/config when $KUBECONFIG is unset or lists no existing file', () => {
    expect(locateKubeconfig({ home: '/root', exists: existing('/root/.kube/config') }))
      .toEqual({ kind: 'files', files: ['/root/.kube/config'], from: '~/.kube/config' });
    expect(locateKubeconfig({ kubeconfigEnv: '/gone', delimiter: ':', home: '/root', exists: existing('/root/.kube/config') }))
      .toEqual({ kind: 'files', files: ['/root/.kube/config'], from: '~/.kube/config' });
  });

  test('the in-cluster service account inside a pod', () => {
    expect(locateKubeconfig({ home: '/root', serviceHost: '10.96.0.1', exists: existing(SERVICE_ACCOUNT_TOKEN) })).toEqual({ kind: 'in-cluster' });
    // A token file without the pod's env is not a pod.
    expect(locateKubeconfig({ home: '/root', exists: existing(SERVICE_ACCOUNT_TOKEN) }).kind).toBe('none');
  });

  test('none: every source tried is named, with how to point at a kubeconfig', () => {
    const source = locateKubeconfig({ kubeconfigEnv: '/gone', delimiter: ':', home: '/home/me', exists: existing() });
    expect(source).toEqual({
      kind: 'none',
      tried: [
        '--kubeconfig (not given)',
        '$KUBECONFIG=/gone (no such file)',
        '/home/me/.kube/config (no such file)',
        'the in-cluster service account (not in a pod: $KUBERNETES_SERVICE_HOST not set)',
      ],
    });
    const message = noKubeconfigMessage((source as { tried: readonly string[] }).tried);
    expect(message).toMatch(/^no kubeconfig found; tried --kubeconfig \(not given\), \$KUBECONFIG=\/gone \(no such file\), /);
    expect(message).toMatch(/Pass --kubeconfig <path>, set KUBECONFIG=<path>/);
  });
});
