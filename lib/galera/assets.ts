import { existsSync, readFileSync } from 'fs';
import { join } from 'path';

/**
 * The files GaleraPetSet ships in ConfigMaps: the mariadb container's scripts and the recovery agent's bundle.
 * They live in `assets/galera/` at the package root, two levels above both `lib/galera` (sources, tests) and
 * `dist/galera` (the published JavaScript).
 */
export class GaleraAssets {
  /** The scripts of the mariadb container, by file name. */
  public static scripts(): Record<string, string> {
    return Object.fromEntries(SCRIPTS.map((file) => [file, read(file)]));
  }

  /** The bundled recovery agent (built by scripts/build-agent.js during `npm run build`). */
  public static agentBundle(): Record<string, string> {
    return { [AGENT_BUNDLE]: read(AGENT_BUNDLE) };
  }
}

const DIR = join(__dirname, '..', '..', 'assets', 'galera');
const SCRIPTS = ['entrypoint.sh', 'lib.sh', 'probe.sh', 'apply-users.sh'];
const AGENT_BUNDLE = 'agent.bundle.js';

function read(file: string): string {
  const path = join(DIR, file);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: ${file === AGENT_BUNDLE ? 'run `npm run build` to bundle the Galera agent' : 'the package is incomplete'}`);
  }
  return readFileSync(path, 'utf8');
}
