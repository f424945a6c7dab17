import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { createServer, Server } from 'net';
import { tmpdir } from 'os';
import { join } from 'path';
import { GaleraPetSet, ProxySqlLayer, SecretValue, TlsCertificates } from '../lib';
import { ADMIN_IMAGE_COMMANDS, PROXYSQL_IMAGE_COMMANDS, VERIFIED_PROXYSQL_IMAGE_TAG } from '../lib/proxysql/image';
import { proxySqlObjects } from './support/fixtures';
import { find, K8sObject } from './support/harness';
import { commandsRunBy } from './support/shell-commands';

const rendered = () => proxySqlObjects([{ name: 'nova', password: SecretValue.fromSecret('nova-db', 'password'), databases: ['nova'] }]);
const certificates = TlsCertificates.certManager({ issuer: { name: 'ca', kind: 'ClusterIssuer' } });
/** With TLS on both sides: both containers run tls.sh. */
const renderedWithTls = () => proxySqlObjects([{ name: 'nova', password: SecretValue.fromSecret('nova-db', 'password'), databases: ['nova'] }],
  { tls: { certificates } }, { tls: { certificates } });

const SCRIPTS_DIR = '/opt/proxysql/';

/** Every command line the kubelet runs in a container: its command, probes and lifecycle hooks. */
function execs(c: any): Array<{ what: string; argv: string[] }> {
  const out: Array<{ what: string; argv: string[] }> = [{ what: 'command', argv: [...(c.command ?? []), ...(c.args ?? [])] }];
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    if (c[probe]?.exec) out.push({ what: probe, argv: c[probe].exec.command });
  }
  for (const hook of ['postStart', 'preStop']) {
    if (c.lifecycle?.[hook]?.exec) out.push({ what: hook, argv: c.lifecycle[hook].exec.command });
  }
  return out;
}

/** For each container and command line: the programs it runs outside bash's builtins, and what cannot be checked. */
function programsRun(objects: K8sObject[]) {
  const scripts = find(objects, 'ConfigMap', 'proxysql-scripts').data as Record<string, string>;
  const containers = find(objects, 'Deployment', 'proxysql').spec.template.spec.containers as any[];
  return containers.flatMap((c) =>
    execs(c).map(({ what, argv }) => {
      if (!argv[0].startsWith(SCRIPTS_DIR)) return { container: c.name, image: c.image, what, argv, programs: [argv[0]], problems: [] as string[] };
      const text = scripts[argv[0].slice(SCRIPTS_DIR.length)];
      if (text === undefined) return { container: c.name, image: c.image, what, argv, programs: [], problems: [`${argv[0]} is not in the scripts ConfigMap`] };
      const found = commandsRunBy(text, argv[1]);
      const interpreter = found.interpreter ?? '(no #! line)';
      const problems = [...found.problems];
      // The image's bash is /bin/bash (usr-merged Debian/Ubuntu: /bin -> /usr/bin, and the package installs /bin/bash).
      if (interpreter !== '/bin/bash') problems.push(`interpreter ${interpreter}, not /bin/bash`);
      return { container: c.name, image: c.image, what, argv, programs: ['bash', ...found.external], problems };
    }),
  );
}

describe('the ProxySQL image the scripts rely on', () => {
  test('the pinned image is the one whose build files were read (lib/proxysql/image.ts)', () => {
    // Bumping the tag without re-reading the image's Dockerfile and package must fail here.
    expect(ProxySqlLayer.DEFAULT_IMAGE).toBe(`docker.io/proxysql/proxysql:${VERIFIED_PROXYSQL_IMAGE_TAG}`);
  });

  test('every command line of the pod runs only programs its image is verified to contain', () => {
    const runs = programsRun(rendered());
    const allowed: Record<string, Readonly<Record<string, string>>> = {
      [ProxySqlLayer.DEFAULT_IMAGE]: PROXYSQL_IMAGE_COMMANDS,
      [GaleraPetSet.DEFAULT_IMAGE]: ADMIN_IMAGE_COMMANDS,
    };
    const violations = runs.flatMap((r) => [
      ...r.problems.map((p) => `${r.container} ${r.what} (${r.argv.join(' ')}): ${p}`),
      ...(allowed[r.image] === undefined
        ? [`${r.container}: image ${r.image} has no verified list`]
        : r.programs.filter((p) => !(p in allowed[r.image])).map((p) => `${r.container} ${r.what} (${r.argv.join(' ')}) runs ${p}, not verified in ${r.image}`)),
    ]);
    expect(violations).toEqual([]);
    // What each relies on, exactly: the liveness probe of the proxysql container needs bash only (/dev/tcp).
    expect(runs.map((r) => `${r.container} ${r.what}: ${[...new Set(r.programs)].join(' ')}`)).toEqual([
      'proxysql command: bash proxysql',
      'proxysql livenessProbe: bash',
      'proxysql preStop: sleep',
      'admin command: bash mariadb sleep',
      'admin readinessProbe: bash mariadb',
      'admin livenessProbe: bash',
      'admin preStop: bash mariadb',
      'credentials command: bash mariadb sha256sum sleep',
      'credentials readinessProbe: bash',
      'credentials livenessProbe: bash',
    ]);
  });

  test('with TLS: tls.sh runs bash alone in the proxysql container, openssl and mv in the admin sidecar', () => {
    const runs = programsRun(renderedWithTls());
    const allowed: Record<string, Readonly<Record<string, string>>> = {
      [ProxySqlLayer.DEFAULT_IMAGE]: PROXYSQL_IMAGE_COMMANDS,
      [GaleraPetSet.DEFAULT_IMAGE]: ADMIN_IMAGE_COMMANDS,
    };
    const violations = runs.flatMap((r) => [
      ...r.problems.map((p) => `${r.container} ${r.what}: ${p}`),
      ...r.programs.filter((p) => !(p in allowed[r.image])).map((p) => `${r.container} ${r.what} runs ${p}, not verified in ${r.image}`),
    ]);
    expect(violations).toEqual([]);
    // tls.sh start execs `bash start.sh` (start.sh itself is checked above); watch runs `bash admin.sh reconcile`.
    expect(runs.map((r) => `${r.container} ${r.what}: ${[...new Set(r.programs)].join(' ')}`)).toEqual([
      'proxysql command: bash',
      'proxysql livenessProbe: bash',
      'proxysql preStop: sleep',
      'admin command: bash mariadb mv openssl sleep',
      'admin readinessProbe: bash mariadb',
      'admin livenessProbe: bash',
      'admin preStop: bash mariadb',
      'credentials command: bash mariadb sha256sum sleep',
      'credentials readinessProbe: bash',
      'credentials livenessProbe: bash',
    ]);
  });
});

describe('the shared certificate check in the admin sidecar', () => {
  test('tls.sh runs tls-pair-check.sh with bash, from the scripts ConfigMap; the check needs only openssl besides bash', () => {
    // programsRun follows the container's own script only: a script it runs with `bash <file>` is checked here.
    const scripts = find(renderedWithTls(), 'ConfigMap', 'proxysql-scripts').data as Record<string, string>;
    expect(scripts['tls.sh']).toContain('bash "$SCRIPT_DIR/tls-pair-check.sh" --purpose sslserver');
    const found = commandsRunBy(scripts['tls-pair-check.sh']);
    expect(found).toEqual({ interpreter: '/bin/bash', external: ['openssl'], problems: [] });
    expect(found.external.filter((p) => !(p in ADMIN_IMAGE_COMMANDS))).toEqual([]);
    // Without tls neither TLS script (tls.sh, tls-pair-check.sh) is shipped; the credentials watcher always is.
    expect(Object.keys(find(rendered(), 'ConfigMap', 'proxysql-scripts').data).sort()).toEqual(['admin.sh', 'credentials.sh', 'start.sh']);
  });
});

describe('the scripts with no program on PATH (the builtins-only parts, run)', () => {
  const ASSETS = join(__dirname, '..', 'assets', 'proxysql');
  // /bin/bash by its path, and a PATH where nothing is found: any program the static check missed fails here.
  const bare = (script: string, args: string[], env: Record<string, string>) =>
    spawnSync('/bin/bash', [join(ASSETS, script), ...args], { encoding: 'utf8', timeout: 10_000, env: { PATH: '/nonexistent', ...env } });

  test('start.sh renders the file with bash alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'proxysql-image-'));
    try {
      writeFileSync(join(dir, 'template.cnf'), 'admin_variables = { admin_credentials = "@@PROXYSQL_ADMIN_CREDENTIALS@@" }\n');
      const r = bare('start.sh', ['--render-only'], {
        PROXYSQL_CONFIG_TEMPLATE: join(dir, 'template.cnf'), PROXYSQL_CONFIG: join(dir, 'proxysql.cnf'), PROXYSQL_DATADIR: dir,
        PROXYSQL_ADMIN_USER: 'admin', PROXYSQL_ADMIN_PASSWORD: 's3cret',
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(readFileSync(join(dir, 'proxysql.cnf'), 'utf8')).toBe('admin_variables = { admin_credentials = "admin:s3cret" }\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('tls.sh start copies the certificate with bash alone (only its final exec needs bash on PATH)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'proxysql-image-'));
    try {
      for (const [name, text] of [['tls.crt', 'CERT\n'], ['tls.key', 'KEY\n'], ['ca.crt', 'CA\n']]) writeFileSync(join(dir, name), text);
      const r = bare('tls.sh', ['start'], { PROXYSQL_TLS_DIR: dir, PROXYSQL_DATADIR: dir });
      expect(r.stderr).toContain('certificate copied from');
      expect(r.stderr).toMatch(/exec: bash: not found/);
      expect(readFileSync(join(dir, 'proxysql-key.pem'), 'utf8')).toBe('KEY\n');
      expect(readFileSync(join(dir, 'proxysql-ca.pem'), 'utf8')).toBe('CA\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('admin.sh live connects through /dev/tcp with bash alone', async () => {
    // admin.sh connects to 127.0.0.1 (where ProxySQL's admin listens); an ephemeral port collides with nothing.
    const server: Server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      expect(bare('admin.sh', ['live'], { PROXYSQL_ADMIN_PORT: String(port) })).toMatchObject({ status: 0, stderr: '' });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const refused = bare('admin.sh', ['live'], { PROXYSQL_ADMIN_PORT: String(port) });
    expect(refused.status).toBe(1);
    expect(refused.stdout).toContain(`admin port ${port} refuses connections`);
  });
});

describe('commandsRunBy (the static check itself can fail)', () => {
  const external = (script: string, entry?: string) => commandsRunBy(`#!/bin/bash\n${script}\n`, entry);

  test.each([
    ['a command substitution', 'x=$(cat /etc/passwd)', ['cat']],
    ['a command substitution inside double quotes', 'echo "user: $(id -un)"', ['id']],
    ['a pipeline', 'echo a | sed s/a/b/', ['sed']],
    ['after && and ||', 'true && tr a b || base64', ['base64', 'tr']],
    ['after an environment assignment', 'FOO=1 awk 1', ['awk']],
    ['code in a trap', "trap 'rm -f /tmp/x' EXIT", ['rm']],
    ['a condition', 'if grep -q a b; then :; fi', ['grep']],
    ['exec and command', 'command -p env; exec timeout 1 true', ['env', 'timeout']],
    ['a loop fed by a process substitution', 'while read -r l; do head -1; done < <(ls /)', ['head', 'ls']],
    ['a background job', 'sleep 1 & wait $!', ['sleep']],
    ['a coprocess and a timed command', 'coproc nc -l 1; time -p uname', ['nc', 'uname']],
    ['a subshell and a group', '( cd / && du -s ); { df; }', ['df', 'du']],
    ['a case branch', 'case $1 in a) stat /;; *) touch x;; esac', ['stat', 'touch']],
    ['bash builtins only', 'read -r a <<<"x"; printf "%s" "$a"; [[ $a == x ]] && echo ok; ((1 + 1)); local_var=${a//x/y}', []],
    ['words that only look like commands', `echo "a; rm -rf / | cat" 'ls && id'; [[ $a == *"; cat"* ]]; case $1 in cat|dog) : ;; esac`, []],
    ['a /dev/tcp redirection', 'exec 3<>"/dev/tcp/127.0.0.1/6032"; exec 3>&-', []],
  ])('finds programs run from %s', (_name, script, programs) => {
    const found = external(script);
    expect(found.problems).toEqual([]);
    expect(found.external).toEqual(programs);
  });

  test('follows only the functions the entry reaches', () => {
    const script = 'fetch() { curl -s x; }\nhelp() { echo usage; }\nget() { fetch; }\ncase ${1:-} in get|help) "$1";; esac';
    expect(external(script, 'help')).toEqual({ interpreter: '/bin/bash', external: [], problems: [] });
    expect(external(script, 'get').external).toEqual(['curl']);
    expect(external(script, 'nope').problems).toEqual(['no function nope to dispatch to']);
  });

  test('reports what it cannot follow instead of passing it', () => {
    expect(external('"$1"').problems).toEqual(['top level: runs a command chosen at run time ("$1"), which cannot be checked']);
    expect(external('eval "$x"').problems).toContain('eval (not supported by the checker)');
    expect(external('x=`date`').problems).toContain('backquote command substitution (use $(...))');
    expect(external('f() { $CMD; }\nf').problems).toEqual(['f: runs a command chosen at run time ($CMD), which cannot be checked']);
  });
});
