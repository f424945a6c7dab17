import { InventoryNode } from '../lib';

/** The three controller nodes of the main example. */
export const CONTROLLERS: InventoryNode[] = [
  { name: 'ctl-1', ip: '10.0.0.11' },
  { name: 'ctl-2', ip: '10.0.0.12' },
  { name: 'ctl-3', ip: '10.0.0.13' },
];

/** Five controllers, for the larger layout. */
export const FIVE_CONTROLLERS: InventoryNode[] = [
  ...CONTROLLERS,
  { name: 'ctl-4', ip: '10.0.0.14' },
  { name: 'ctl-5', ip: '10.0.0.15' },
];

/** Three dedicated RabbitMQ nodes, beside the five controllers. */
export const RABBIT_NODES: InventoryNode[] = [
  { name: 'mq-1', ip: '10.0.0.21' },
  { name: 'mq-2', ip: '10.0.0.22' },
  { name: 'mq-3', ip: '10.0.0.23' },
];
