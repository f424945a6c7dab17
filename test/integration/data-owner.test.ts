/**
 * The data-owner init container that RabbitDaemonSet and GaleraPetSet (hostPath storage) deploy, run for real: its
 * synthesized command, as root with exactly its synthesized capabilities (setpriv bounding set), on a data directory
 * as a node may hold it: fresh (root, 0755, as the kubelet's DirectoryOrCreate makes it), or left by a distribution
 * package (another uid). The directory must end owned by the daemon's uid with mode 0750, and a second run (every
 * restart) must change nothing.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GaleraPetSet, GaleraStorage, Placement, RabbitDaemonSet, RabbitVersion, SecretValue } from '../../lib';
import { find, newChart, synth } from '../support/harness';
import { adminAndNova } from '../support/fixtures';
import { describeUnlessMissing, which } from './support/daemons';
import { NODES } from '../support/fixtures';

/** The uid of a distribution package's leftover (Debian's rabbitmq or mysql system user on some other host). */
const FOREIGN_UID = 4242;
/** Both official images run their daemon as uid 999 (mysql, rabbitmq). */
const DAEMON_UID = 999;

interface InitContainer {
  command: string[];
  capabilities: string[];
  mountPath: string;
}

function initContainer(podSpec: any): InitContainer {
  const [c] = podSpec.initContainers;
  expect(c.name).toBe('data-owner');
  return { command: c.command, capabilities: c.securityContext.capabilities.add, mountPath: c.volumeMounts[0].mountPath };
}

const DEPLOYED: Record<string, { container: InitContainer; uid: number }> = {
  rabbitmq: (() => {
    const chart = newChart('openstack');
    new RabbitDaemonSet(chart, 'rabbitmq', {
      placement: Placement.onNodes(NODES), version: RabbitVersion.V3_13,
      erlangCookie: SecretValue.fromSecret('rabbitmq-erlang-cookie', 'cookie'), users: adminAndNova(),
    });
    const spec = find(synth(chart), 'DaemonSet', 'rabbitmq').spec.template.spec;
    return { container: initContainer(spec), uid: DAEMON_UID };
  })(),
  galera: (() => {
    const chart = newChart('openstack');
    new GaleraPetSet(chart, 'galera', {
      placement: Placement.onNodes(NODES), storage: GaleraStorage.hostPath({ path: '/var/lib/openstack-ha/galera' }),
      credentials: {
        rootPassword: SecretValue.fromSecret('galera-root', 'password'),
        sstPassword: SecretValue.fromSecret('galera-sst', 'password'),
        monitorPassword: SecretValue.fromSecret('galera-monitor', 'password'),
      },
    });
    const spec = find(synth(chart), 'StatefulSet', 'galera').spec.template.spec;
    return { container: initContainer(spec), uid: DAEMON_UID };
  })(),
};

/** Runs the init container's command on `dir` as root with only its capabilities; returns status and output. */
function runInit(c: InitContainer, dir: string, commandOverride?: string): { status: number | null; output: string } {
  const script = (commandOverride ?? c.command[2]).split(c.mountPath).join(dir);
  const caps = c.capabilities.map((cap) => `+${cap.toLowerCase()}`).join(',');
  const r = spawnSync('setpriv', [`--bounding-set=-all,${caps}`, '--inh-caps=-all', '--', c.command[0], c.command[1], script],
    { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function dataDir(owner: number, mode: number): string {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'data-owner-'));
  fs.chmodSync(parent, 0o755);
  const dir = path.join(parent, 'data');
  fs.mkdirSync(dir);
  fs.chownSync(dir, owner, owner);
  fs.chmodSync(dir, mode);
  return dir;
}

const missing = [which('setpriv') ? [] : ['setpriv'], process.getuid?.() === 0 ? [] : ['root']].flat();

describeUnlessMissing('the data-owner init container, run with its own capabilities', missing, 'apt-get install util-linux, and run as root', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(path.dirname(d), { recursive: true, force: true })));

  for (const [family, { container, uid }] of Object.entries(DEPLOYED)) {
    describe(family, () => {
      test('runs with CHOWN only', () => {
        expect(container.capabilities).toEqual(['CHOWN']);
      });

      for (const [state, owner, mode] of [['fresh (root, 0755)', 0, 0o755], ['left by another user (0755)', FOREIGN_UID, 0o755],
        ['left by another user (0700)', FOREIGN_UID, 0o700]] as const) {
        test(`a directory ${state} ends owned by uid ${uid}, mode 0750; a second run changes nothing`, () => {
          const dir = dataDir(owner, mode);
          dirs.push(dir);
          const first = runInit(container, dir);
          expect(first).toEqual({ status: 0, output: '' });
          const after = fs.statSync(dir);
          expect([after.uid, after.gid, after.mode & 0o7777]).toEqual([uid, uid, 0o750]);

          fs.chmodSync(dir, 0o751); // a mode the daemon set itself must survive a restart
          expect(runInit(container, dir).status).toBe(0);
          expect(fs.statSync(dir).mode & 0o7777).toBe(0o751);
        });
      }

      test('the trap is real: chmod before chown fails on another user\'s directory with CHOWN only', () => {
        const dir = dataDir(FOREIGN_UID, 0o755);
        dirs.push(dir);
        const d = container.mountPath;
        const r = runInit(container, dir, `chmod 0750 ${d} && chown ${uid}:${uid} ${d}`);
        expect(r.status).not.toBe(0);
        expect(r.output).toMatch(/Operation not permitted/);
      });
    });
  }
});
