/** HAProxy run from a rendered haproxy.cfg with the container's command, for the TLS test and the TLS benchmark. */
import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { haproxyCommand } from '../../../lib/haproxy/render';
import { Daemons, waitForTcp } from './daemons';

export interface RenderedHaproxy {
  readonly child: ChildProcess;
  /** Its private /run/haproxy (master and admin sockets). */
  readonly runDir: string;
  /** Where the rendered file is (the image's /usr/local/etc/haproxy/haproxy.cfg, bind-mounted). */
  readonly configFile: string;
}

/**
 * HAProxy with the container's command in a private mount namespace: `cfg` at the image's config path, a private
 * /run/haproxy for its sockets (both under `dir`). Resolves when `bind:statsPort` accepts connections.
 */
export async function startRenderedHaproxy(daemons: Daemons, dir: string, cfg: string, bind: string, statsPort: number): Promise<RenderedHaproxy> {
  const runDir = path.join(dir, 'run');
  const etc = path.join(dir, 'etc');
  fs.mkdirSync(runDir, { recursive: true });
  fs.mkdirSync(path.join(etc, 'haproxy'), { recursive: true });
  const configFile = path.join(etc, 'haproxy', 'haproxy.cfg');
  fs.writeFileSync(configFile, cfg);
  const command = haproxyCommand().join(' ');
  const child = daemons.start('unshare', ['-m', 'sh', '-c',
    `mount --bind ${runDir} /run/haproxy && mount --bind ${etc} /usr/local/etc && exec ${command}`]);
  await waitForTcp(bind, statsPort);
  return { child, runDir, configFile };
}
