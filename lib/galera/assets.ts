import { readAssets } from '../common/assets';

/** The scripts of the mariadb container (assets/galera), by file name. */
export function galeraScripts(): Record<string, string> {
  return readAssets('galera', ['entrypoint.sh', 'lib.sh', 'probe.sh', 'apply-users.sh', 'notify.sh', 'exporter.sh']);
}

/** The bundled recovery agent, built by scripts/build-agent.js during `npm run build`. */
export function galeraAgentBundle(): Record<string, string> {
  return readAssets('galera', ['agent.bundle.js'], 'run `npm run build` to bundle the Galera agent');
}
