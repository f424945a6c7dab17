/** The OpenStack client libraries from Debian, run by /usr/bin/python3 (not a pyenv or venv python). */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { OpenStackRelease } from '../../../lib';

export const PYTHON = '/usr/bin/python3';
export const OSLO_CLIENTS_SCRIPT = path.join(__dirname, 'oslo_clients.py');
/** Debian packages (scripts/install-deps.sh installs them). */
export const OSLO_CLIENTS = ['python3-oslo.config', 'python3-oslo.messaging', 'python3-oslo.db', 'python3-oslo.cache', 'python3-keystonemiddleware', 'python3-pymysql', 'python3-pymemcache'];
const MODULES = ['oslo_config', 'oslo_messaging', 'oslo_db', 'oslo_cache', 'keystonemiddleware', 'pymysql', 'memcache', 'pymemcache'];

/** The libraries that do not import. */
export function missingOsloClients(): string[] {
  const r = spawnSync(PYTHON, ['-c', `import importlib, sys\nfor m in sys.argv[1:]:\n  try: importlib.import_module(m)\n  except Exception: print(m)`, ...MODULES], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return [PYTHON];
  return r.stdout.split('\n').filter((m) => m !== '');
}

/** The newest release line whose first oslo.messaging release is not newer than the installed one. */
export function debianOsloLine(osloMessagingVersion: string): OpenStackRelease {
  const [major, minor] = osloMessagingVersion.split('.').map(Number);
  const atMost = (r: OpenStackRelease) => {
    const [a, b] = r.osloMessagingVersion.split('.').map(Number);
    return a < major || (a === major && b <= minor);
  };
  return OpenStackRelease.all().filter(atMost).pop()!;
}
