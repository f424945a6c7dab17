/**
 * The rendered service config files, read by the real OpenStack libraries (Debian 12: oslo.config, oslo.messaging,
 * oslo.db, oslo.cache, keystonemiddleware, SQLAlchemy). Every file the example's services get, for the release
 * line Debian packages (2022.2) and the default one, on a 3.x and a 4.x broker line, is rendered by the
 * ServiceConfigRenderer's init container with hostile Secret values and then:
 * - parsed by oslo.config's own parser, every option name checked against the options the libraries register
 *   (oslo.config ignores unknown options silently, so loading the file proves nothing by itself);
 * - loaded into a ConfigOpts with those options, and the passwords read back the way the libraries read them
 *   (oslo.messaging's TransportURL, SQLAlchemy's make_url, oslo.config's `$` substitution and quote stripping).
 * Options that exist only in newer oslo.messaging releases than Debian's cannot be checked; the test lists them.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Chart } from 'cdk8s';
import { OpenStackRelease, RabbitVersion, ServiceConfigRenderer } from '../../lib';
import { OSLO_RABBIT_OPTION_AVAILABLE, OSLO_RABBIT_OPTION_NAMES } from '../../lib/rabbitmq/oslo';
import { CONTROLLERS } from '../../examples/inventory';
import { OpenStackControlPlaneChart, SERVICES } from '../../examples/openstack-control-plane';
import { newApp, synth } from '../support/harness';
import { runInitContainer } from '../support/service-config';
import { describeUnlessMissing } from './support/daemons';
import { debianOsloLine, missingOsloClients, OSLO_CLIENTS, OSLO_CLIENTS_SCRIPT, PYTHON } from './support/oslo';

/** Every byte class the escaping must survive: URL delimiters, '%', oslo.config's '$', ini comment and quote characters. */
const hostile = (name: string) => `${name}@p:a/s%s?#$HOME&x=1;"'`;
const MEMCACHE_KEY = ` $mem"cache;key#'`;
/** No '/' in RabbitMQ passwords: the renderer refuses it (oslo.messaging hands it to kombu unescaped). */
const secretValue = (ref: string) => (ref === 'memcache-secret-key/key' ? MEMCACHE_KEY
  : ref.includes('-rabbitmq/') ? hostile(ref.split('/')[0]).replace('/', '') : hostile(ref.split('/')[0]));

describeUnlessMissing('OpenStack libraries read the rendered service configs', missingOsloClients(), `apt-get install ${OSLO_CLIENTS.join(' ')}`, () => {
  let work: string;
  beforeAll(() => { work = fs.mkdtempSync(path.join(os.tmpdir(), 'oslo-config-')); });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test('every option is one the libraries register (but those newer than Debian\'s), and every secret reads back as given', () => {
    const cases: Array<{ file: string; release: OpenStackRelease; secrets: Record<string, string>; text: string }> = [];
    for (const release of [OpenStackRelease.V2022_2, OpenStackRelease.V2026_1]) {
      for (const rabbitVersion of [RabbitVersion.V3_13, RabbitVersion.V4_1]) {
        const cp = new OpenStackControlPlaneChart(newApp(), 'cp', { controllers: CONTROLLERS, openStackRelease: release, rabbitVersion }).controlPlane;
        for (const service of SERVICES) {
          const connection = cp.connection(service.name);
          const chart = new Chart(newApp(), 'svc', { namespace: 'openstack', disableResourceNameHashes: true });
          const renderer = new ServiceConfigRenderer(chart, 'ha', { connection });
          const secrets = Object.fromEntries(Object.values(connection.secretReferences).map((ref) => [ref, secretValue(ref)]));
          const file = path.join(work, `${release.line}-${rabbitVersion.line}-${service.name}.conf`);
          const run = runInitContainer(renderer, synth(chart), secrets, file);
          expect(run.stderr).toBe('');
          cases.push({ file, release, secrets, text: run.output!.text });
        }
      }
    }

    const r = spawnSync(PYTHON, [OSLO_CLIENTS_SCRIPT, 'config', ...cases.map((c) => c.file)], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(r.stderr);
    const { versions, files } = JSON.parse(r.stdout);
    const debian = debianOsloLine(versions['oslo.messaging']);
    expect(debian).toBe(OpenStackRelease.V2022_2);
    // What Debian's oslo.messaging lacks and a newer line may set: reported, not checked.
    const newer = new Set((Object.keys(OSLO_RABBIT_OPTION_NAMES) as (keyof typeof OSLO_RABBIT_OPTION_NAMES)[])
      .filter((k) => !OSLO_RABBIT_OPTION_AVAILABLE[k](debian)).map((k) => `oslo_messaging_rabbit.${OSLO_RABBIT_OPTION_NAMES[k]}`));
    const unchecked = new Set<string>();
    let options = 0;
    for (const c of cases) {
      const { unknown, values } = files[c.file];
      options += c.text.split('\n').filter((l) => / = /.test(l)).length;
      if (c.release === debian) expect([c.file, unknown]).toEqual([c.file, []]);
      for (const name of unknown) {
        expect([c.file, name, newer.has(name)]).toEqual([c.file, name, true]);
        unchecked.add(name);
      }
      const password = (secret: string) => c.secrets[Object.keys(c.secrets).find((ref) => ref.startsWith(`${secret}/`))!];
      const service = path.basename(c.file, '.conf').split('-').pop()!;
      if (values.rpc) {
        expect(values.rpc.passwords).toEqual([1, 2, 3].map(() => password(`${service}-rabbitmq`)));
        expect(values.notifications).toMatchObject({ vhost: 'notifications' });
        expect(values.notifications.passwords).toEqual(values.rpc.passwords);
      }
      if (values.database) expect(values.database).toEqual([password(`${service}-db`), password(`${service}-db`)]);
      expect(values.memcache_secret_key).toBe(MEMCACHE_KEY);
      expect(values.memcache_servers).toEqual(['10.0.0.11:11211', '10.0.0.12:11211', '10.0.0.13:11211']);
    }
    // eslint-disable-next-line no-console
    console.log(`oslo.config read ${cases.length} rendered files (${options} option lines) with ${JSON.stringify(versions)}; `
      + `not checkable with Debian's oslo.messaging ${versions['oslo.messaging']} (${debian}): ${[...unchecked].sort().join(', ') || 'none'}`);
    expect([...unchecked].sort()).toEqual(['oslo_messaging_rabbit.rabbit_transient_quorum_queue', 'oslo_messaging_rabbit.use_queue_manager']);
  }, 180_000);
});


