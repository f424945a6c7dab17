/** Running a ServiceConfigRenderer's init container here, as the kubelet would (unit and integration tests). */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ServiceConfigRenderer } from '../../lib';
import { find, K8sObject } from './harness';

export interface InitContainerRun {
  readonly status: number | null;
  readonly stderr: string;
  /** The rendered file, when one was written. */
  readonly output?: { readonly text: string; readonly mode: number };
  /** What is in the output volume afterwards. */
  readonly leftovers: string[];
}

/**
 * Runs the init container's command as the kubelet would: its ConfigMap volume filled from the synthesized
 * ConfigMap, its output volume a temp dir, its env from `secrets` (`name/key` -> value; absent = missing key).
 * `keepAt`: where to copy the rendered file.
 */
export function runInitContainer(r: ServiceConfigRenderer, objects: K8sObject[], secrets: Record<string, string>, keepAt?: string): InitContainerRun {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'svc-config-'));
  const dirs: Record<string, string> = {};
  for (const m of r.initContainer.volumeMounts!) {
    dirs[m.mountPath] = path.join(work, m.name);
    fs.mkdirSync(dirs[m.mountPath]);
    const volume = r.volumes.find((v) => v.name === m.name)!;
    if (volume.configMap) {
      for (const [file, text] of Object.entries<string>(find(objects, 'ConfigMap', volume.configMap.name!).data)) fs.writeFileSync(path.join(dirs[m.mountPath], file), text);
    }
  }
  const local = (arg: string) => Object.entries(dirs).reduce((a, [mount, dir]) => a.split(mount).join(dir), arg);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  for (const e of r.initContainer.env!) {
    const ref = e.valueFrom!.secretKeyRef!;
    const value = secrets[`${ref.name}/${ref.key}`];
    if (value !== undefined) env[e.name] = value;
  }
  const [command, ...args] = r.initContainer.command!;
  const result = spawnSync(command === 'node' ? process.execPath : command, args.map(local), { env, encoding: 'utf8' });
  const outDir = dirs[r.initContainer.volumeMounts!.find((m) => !m.readOnly)!.mountPath];
  const outFile = path.join(outDir, path.basename(r.configFile));
  const output = fs.existsSync(outFile) ? { text: fs.readFileSync(outFile, 'utf8'), mode: fs.statSync(outFile).mode & 0o777 } : undefined;
  const leftovers = fs.readdirSync(outDir);
  if (output && keepAt) fs.writeFileSync(keepAt, output.text);
  fs.rmSync(work, { recursive: true, force: true });
  return { status: result.status, stderr: result.stderr, output, leftovers };
}

