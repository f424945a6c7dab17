import { InventoryNode } from '../lib';

/** The three controller nodes every example runs on. */
export const CONTROLLERS: InventoryNode[] = [
  { name: 'ctl-1', ip: '10.0.0.11' },
  { name: 'ctl-2', ip: '10.0.0.12' },
  { name: 'ctl-3', ip: '10.0.0.13' },
];
