export * from './common/placement';
export * from './common/secret';
export * from './common/resources';
export * from './common/network';
export * from './memcached/memcached-pool';
export * from './galera/credentials';
export * from './galera/storage';
export * from './galera/galera-petset';
