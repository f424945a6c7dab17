import { readAssets } from '../common/assets';

/** The broker container's command script (assets/rabbitmq): `bash <scriptDir>/start.sh`. */
export const START_SCRIPT = 'start.sh';

/** The broker's scripts, by file name. */
export function rabbitScripts(): Record<string, string> {
  return readAssets('rabbitmq', [START_SCRIPT]);
}
