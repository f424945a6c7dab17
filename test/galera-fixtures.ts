/** Member reports shared by the Galera election and agent tests. */
import type { MemberReport } from '../lib/galera/agent/types';

/** Two cluster histories, and the UUID Galera writes when a member has none. */
export const A = '6f3c1c7e-0c39-11ef-9a4b-2b8c5a7d3e11';
export const B = '9d2e4f10-0c39-11ef-8e1d-7f4a2b6c9d22';
export const ZERO = '00000000-0000-0000-0000-000000000000';

/** A member that came back after an outage with data at `seqno` of cluster A, read from grastate.dat. */
export function known(ordinal: number, seqno: number, extra: Partial<MemberReport> = {}): MemberReport {
  return {
    ordinal,
    name: `galera-${ordinal}`,
    data: 'known',
    position: { uuid: A, seqno },
    positionSource: 'grastate',
    running: false,
    primary: false,
    synced: false,
    ...extra,
  };
}
