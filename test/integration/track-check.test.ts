/**
 * The HTTP track check that KeepalivedVip renders, run with the real curl as keepalived would run it, in the
 * environment of Kolla's keepalived image: root's home holds a `.curlrc` that retries every error. A failing
 * health check must fail at once (one request), or the VIP moves seconds late.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { KeepalivedVip, Placement, VipTrack } from '../../lib';
import { find, newChart, synth } from '../support/harness';
import { describeWithBinaries } from './support/daemons';

/** What Kolla's base image installs as /root/.curlrc (retry on every error, including HTTP 5xx with --fail). */
const KOLLA_CURLRC = '--retry 5\n--retry-all-errors\n--retry-delay 1\n';

/** The `script "..."` of the rendered check for an HTTP track on `port`, split the way keepalived splits it. */
function renderedHttpCheck(port: number): string[] {
  const chart = newChart('openstack');
  new KeepalivedVip(chart, 'api', {
    address: '10.0.0.100',
    prefixLength: 24,
    interface: 'eth0',
    placement: Placement.onNodes([{ name: 'lb-a', ip: '10.0.0.11' }, { name: 'lb-b', ip: '10.0.0.12' }, { name: 'lb-c', ip: '10.0.0.13' }]),
    virtualRouterId: 51,
    track: VipTrack.http(port, '/healthz'),
  });
  const files: Record<string, string> = find(synth(chart), 'ConfigMap', 'api-config').data;
  const script = /script "([^"]+)"/.exec(Object.values(files)[0]);
  if (!script) throw new Error('no track script in the rendered keepalived.conf');
  return script[1].split(' ');
}

/** Runs the command with HOME holding `curlrc`; resolves with its exit code. */
function run(command: string[], home: string): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(command[0], command.slice(1), { env: { ...process.env, HOME: home }, stdio: 'ignore' });
    child.on('exit', (code) => resolve(code));
  });
}

describeWithBinaries('the rendered HTTP track check under a Kolla .curlrc', ['/usr/bin/curl'], ['curl'], () => {
  let server: http.Server;
  let requests = 0;
  let home: string;

  beforeAll(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'curlrc-'));
    fs.writeFileSync(path.join(home, '.curlrc'), KOLLA_CURLRC);
    server = http.createServer((_req, res) => {
      requests++;
      res.writeHead(503).end('not ready');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(home, { recursive: true, force: true });
  });

  test('a failing health check fails after one request: the .curlrc is ignored', async () => {
    const command = renderedHttpCheck((server.address() as AddressInfo).port);
    requests = 0;
    expect(await run(command, home)).not.toBe(0);
    expect(requests).toBe(1);
  });

  test('the same curl without -q would have retried (the trap is real here)', async () => {
    const command = renderedHttpCheck((server.address() as AddressInfo).port).filter((arg) => arg !== '-q');
    requests = 0;
    expect(await run(command, home)).not.toBe(0);
    expect(requests).toBeGreaterThan(1);
  }, 30_000);
});
