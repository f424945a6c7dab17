/**
 * The real HAProxy (Debian haproxy 2.6) with what HaproxyLoadBalancer deploys, taken from the synthesized
 * manifests (ConfigMap data, container commands, env and preStop hooks):
 * - `haproxy -c -dW` accepts the example control plane's haproxy.cfg and a Galera + VIP variant (cluster DNS names
 *   resolved through a private /etc/hosts);
 * - in a network namespace of its own (`vipt-lb`, loopback only), the reloader sidecar applies a changed ConfigMap
 *   with a hitless reload (the pod's config-hash annotation does not change, so the pod is not rolled), and its
 *   preStop drain makes /healthz refuse connections so keepalived moves the VIP before HAProxy stops.
 */
import { ChildProcess, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { EXAMPLES } from '../../examples';
import { HaproxyLoadBalancer, LoadBalancedService, Placement } from '../../lib';
import { CONFIG_HASH_ANNOTATION } from '../../lib/common/labels';
import { K8sObject, find, newApp, newChart, synth, synthApp } from '../support/harness';
import { Daemons, describeWithBinaries } from './support/daemons';

jest.setTimeout(60_000);

const NETNS = 'vipt-lb';
const STATS_PORT = 18404;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sh(command: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The DaemonSet's pod, the ConfigMaps' data, by name. */
function deployed(objects: K8sObject[], name: string) {
  const pod = find(objects, 'DaemonSet', name).spec.template;
  const container = (c: string) => pod.spec.containers.find((x: any) => x.name === c);
  return {
    pod,
    haproxy: container('haproxy'),
    reloader: container('reloader'),
    cfg: find(objects, 'ConfigMap', `${name}-config`).data['haproxy.cfg'] as string,
    reloaderScript: find(objects, 'ConfigMap', `${name}-reloader`).data['reloader.js'] as string,
  };
}

/** Every `<name>.svc.cluster.local` server name of a config, as /etc/hosts lines on 10.1.x.y. */
function hostsFor(cfg: string): string[] {
  const names = [...new Set(cfg.match(/[a-z0-9.-]+\.svc\.cluster\.local/g) ?? [])];
  return names.map((n, i) => `10.1.${Math.floor(i / 250)}.${(i % 250) + 1} ${n}`);
}

describeWithBinaries('HAProxy with what HaproxyLoadBalancer deploys', ['haproxy', 'unshare', 'mount', 'ip', 'curl'],
  ['haproxy', 'util-linux', 'mount', 'iproute2', 'curl'], () => {
    let work: string;
    const daemons = new Daemons();

    beforeAll(() => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'vip-haproxy-lb-'));
      sh('ip', ['netns', 'del', NETNS]); // a leftover of an interrupted run (this name is reserved for this test)
      expect(sh('ip', ['netns', 'add', NETNS]).status).toBe(0);
      expect(sh('ip', ['-n', NETNS, 'link', 'set', 'lo', 'up']).status).toBe(0);
    });
    afterAll(async () => {
      await daemons.stopAll();
      sh('ip', ['netns', 'del', NETNS]);
      fs.rmSync(work, { recursive: true, force: true });
    });

    /** `haproxy -c -dW` of a deployed config, names resolved by a private /etc/hosts. */
    function check(name: string, cfg: string): { status: number | null; output: string } {
      const dir = path.join(work, name);
      fs.mkdirSync(path.join(dir, 'run'), { recursive: true });
      // A TLS example names the mounted Secret's files: a throwaway self-signed pair stands in for them.
      const tlsDir = path.join(dir, 'tls');
      if (cfg.includes('/etc/haproxy-tls/')) {
        fs.mkdirSync(tlsDir, { recursive: true });
        sh('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=api',
          '-keyout', path.join(tlsDir, 'tls.key'), '-out', path.join(tlsDir, 'tls.crt.pem')]);
        const pem = fs.readFileSync(path.join(tlsDir, 'tls.crt.pem'), 'utf8');
        fs.writeFileSync(path.join(tlsDir, 'tls.crt'), pem + fs.readFileSync(path.join(tlsDir, 'tls.key'), 'utf8'));
        fs.copyFileSync(path.join(tlsDir, 'tls.key'), path.join(tlsDir, 'tls.crt.key'));
        fs.writeFileSync(path.join(tlsDir, 'ca.crt'), pem);
      }
      fs.writeFileSync(path.join(dir, 'haproxy.cfg'), cfg.split('/etc/haproxy-tls/').join(`${tlsDir}/`));
      fs.writeFileSync(path.join(dir, 'hosts'), ['127.0.0.1 localhost', ...hostsFor(cfg), ''].join('\n'));
      const inner = `mount --bind ${dir}/hosts /etc/hosts && mount --bind ${dir}/run /run/haproxy && ` +
        `exec haproxy -c -dW -f ${dir}/haproxy.cfg`;
      return sh('unshare', ['-m', 'sh', '-c', inner]);
    }

    test.each(Object.keys(EXAMPLES))('haproxy -c -dW accepts the haproxy.cfg of example %s on every node', (example) => {
      const app = newApp();
      EXAMPLES[example](app);
      const objects = synthApp(app);
      const { cfg } = deployed(objects, 'api-lb');
      const nodes: string[] = objects.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'api-lb')!
        .spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms
        .map((t: any) => t.matchFields[0].values[0]);
      expect(nodes.length).toBeGreaterThanOrEqual(3);
      // One file for every node: nothing in it (or in the command) is per node.
      const r = check(example, cfg);
      expect(r.output).toContain('Configuration file is valid');
      expect(r.status).toBe(0);
    });

    /** A load balancer with one TCP service per port, on loopback-only servers. */
    function loadBalancer(ports: number[]) {
      const chart = newChart('openstack');
      new HaproxyLoadBalancer(chart, 'lb', {
        placement: Placement.onNodes([{ name: 'lb-a', ip: '127.0.0.1' }]),
        statsPort: STATS_PORT,
        // The default (10000) needs 20042 descriptors; this machine's hard nofile limit is 20000 and HAProxy then
        // refuses to start ("Cannot raise FD limit"), as it would in a container with that limit.
        maxConnections: 4000,
        services: ports.map((port) => LoadBalancedService.tcp(`svc-${port}`, port, { servers: [{ address: '127.0.0.1', port: port + 1000 }] })),
      });
      return deployed(synth(chart), 'lb');
    }

    describe('the reloader sidecar', () => {
      const v1 = loadBalancer([15000]);
      const v2 = loadBalancer([15000, 15001]);
      let configDir: string;
      let runDir: string;
      let haproxy: ChildProcess;

      /** The container's env with the pod's paths mapped to this test's directories. */
      function reloaderEnv(): NodeJS.ProcessEnv {
        const env: NodeJS.ProcessEnv = { ...process.env };
        for (const e of v1.reloader.env) env[e.name] = e.value.replace('/usr/local/etc/haproxy', configDir).replace('/var/run/haproxy', runDir);
        // The deployed interval is 5 s; a shorter one keeps the test short without changing what is exercised.
        env.RELOADER_INTERVAL_MS = '200';
        return env;
      }

      function masterCli(command: string): Promise<string> {
        return new Promise((resolve, reject) => {
          let out = '';
          const s = net.connect({ path: path.join(runDir, 'master.sock') }, () => s.end(`${command}\n`));
          s.on('data', (d) => { out += d.toString(); });
          s.on('end', () => resolve(out));
          s.on('error', reject);
        });
      }

      function curlHealthz(): string {
        return sh('ip', ['netns', 'exec', NETNS, 'curl', '--silent', '--output', '/dev/null', '--write-out', '%{http_code}',
          '--max-time', '2', `http://127.0.0.1:${STATS_PORT}/healthz`]).output;
      }

      beforeAll(async () => {
        // Mounted over /usr/local/etc (which exists on the host), so the ConfigMap directory lands at the image's path.
        const etc = path.join(work, 'etc');
        configDir = path.join(etc, 'haproxy');
        runDir = path.join(work, 'run');
        const scriptDir = path.join(work, 'reloader');
        for (const d of [configDir, runDir, scriptDir]) fs.mkdirSync(d, { recursive: true });
        fs.writeFileSync(path.join(configDir, 'haproxy.cfg'), v1.cfg);
        fs.writeFileSync(path.join(scriptDir, 'reloader.js'), v1.reloaderScript);
        // The haproxy container: its command, the ConfigMap directory at the image's config path and the run
        // emptyDir, in the test's own network namespace.
        const command = v1.haproxy.command.join(' ');
        const inner = `mount --bind ${etc} /usr/local/etc && mount --bind ${runDir} /var/run/haproxy && exec ${command}`;
        haproxy = daemons.start('ip', ['netns', 'exec', NETNS, 'unshare', '-m', 'sh', '-c', inner]);
        for (let i = 0; i < 100 && curlHealthz() !== '200'; i++) await sleep(50);
        const [node, script, mode] = v1.reloader.command;
        daemons.start(node === 'node' ? process.execPath : node, [script.replace('/opt/haproxy-reloader', scriptDir), mode], { env: reloaderEnv() });
      });

      test('a changed ConfigMap is applied by a hitless reload, and the pod template does not change', async () => {
        expect(curlHealthz()).toBe('200');
        expect(v2.pod.metadata.annotations[CONFIG_HASH_ANNOTATION]).toBe(v1.pod.metadata.annotations[CONFIG_HASH_ANNOTATION]);
        expect(v2.cfg).not.toBe(v1.cfg);
        await sleep(500); // the reloader has read the first version
        // The kubelet swaps a ConfigMap volume's content atomically (a rename of the data directory symlink).
        fs.writeFileSync(path.join(configDir, '.haproxy.cfg.new'), v2.cfg);
        fs.renameSync(path.join(configDir, '.haproxy.cfg.new'), path.join(configDir, 'haproxy.cfg'));
        const changedAt = Date.now();
        let proc = '';
        while (Date.now() - changedAt < 10_000 && !/master\s+1 \[failed: 0\]/.test(proc)) {
          await sleep(100);
          // The master re-executes itself on reload: its socket refuses connections for a moment.
          proc = await masterCli('show proc').catch(() => '');
        }
        console.log(`reloader: ConfigMap change applied ${Date.now() - changedAt} ms after the swap (poll interval 200 ms)`);
        expect(proc).toMatch(/master\s+1 \[failed: 0\]/);
        expect(await masterCli('@1 show stat')).toMatch(/^svc-15001,FRONTEND/m);
        expect(haproxy.exitCode).toBeNull();
      });

      test('the preStop drain makes /healthz refuse connections (keepalived\'s check fails) while HAProxy keeps running', async () => {
        const [node, script, mode] = v1.reloader.lifecycle.preStop.exec.command;
        const scriptPath = script.replace('/opt/haproxy-reloader', path.join(work, 'reloader'));
        const r = spawnSync(node === 'node' ? process.execPath : node, [scriptPath, mode], { env: reloaderEnv(), encoding: 'utf8', timeout: 15_000 });
        expect(r.status).toBe(0);
        expect(curlHealthz()).toBe('000');
        expect(haproxy.exitCode).toBeNull();
        expect(await masterCli('@1 show stat')).toMatch(/^svc-15000,FRONTEND/m);
      });
    });
  });
