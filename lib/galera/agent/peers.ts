/** Polling the peers' agents: `GET <url>/state`, bounded in time, one fresh connection each (no keep-alive). */
import * as http from 'http';
import { isProblem, parseMemberReport } from './run-dir';
import type { MemberReport } from './types';

export interface PeerPoll {
  readonly ordinal: number;
  readonly name: string;
  readonly url: string;
  readonly report?: MemberReport;
  /** Why there is no report (unreachable, timeout, not ready, malformed). */
  readonly error?: string;
}

export function pollPeer(url: string, ordinal: number, name: string, timeoutSeconds: number): Promise<PeerPoll> {
  const target = `${url.replace(/\/+$/, '')}/state`;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: Omit<PeerPoll, 'ordinal' | 'name' | 'url'>) => {
      if (settled) return;
      settled = true;
      resolve({ ordinal, name, url, ...result });
    };
    const request = http.get(target, { agent: false, timeout: timeoutSeconds * 1000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', (e) => finish({ error: e.message }));
      response.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (response.statusCode !== 200) {
          finish({ error: `HTTP ${response.statusCode}: ${body.slice(0, 200)}` });
          return;
        }
        const report = parseMemberReport(body, ordinal, name);
        finish(isProblem(report) ? { error: `invalid report: ${report.problem}` } : { report });
      });
    });
    // `timeout` only covers socket inactivity; the overall bound keeps a trickling peer from stalling the loop.
    const deadline = setTimeout(() => request.destroy(new Error(`no answer within ${timeoutSeconds} s`)), timeoutSeconds * 1000);
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutSeconds} s`)));
    request.on('error', (e) => finish({ error: e.message }));
    request.on('close', () => clearTimeout(deadline));
  });
}
