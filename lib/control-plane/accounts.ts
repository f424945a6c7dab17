/**
 * A service's two accounts of each kind (RabbitMQ, database): which one its connection uses, and the checks of the
 * alternate `<service>-b` one. Why two: a password rotation without a failed login (README, "Day 2: rotating a
 * RabbitMQ password" and "rotating a database password").
 */
import { SecretValue, validateSecretValue } from '../common/secret';
import { Validator } from '../common/validation';
import { DatabaseAccount, MessagingAccount, OpenStackService } from './props';

/** The name of a service's alternate RabbitMQ or database account. */
export function alternateAccountName(service: string): string {
  return `${service}-b`;
}

/**
 * The account of one kind a service's connection uses: its own, or with `ALTERNATE` (MessagingAccount or
 * DatabaseAccount, both 'alternate') and an alternate password the `<name>-b` one. Call only when the service has
 * the primary password.
 */
export function activeAccount(s: OpenStackService, k: AlternateAccountProps): { user: string; password: SecretValue } {
  const alternate = s[k.alternateProp];
  return s[k.accountProp] === 'alternate' && alternate ? { user: alternateAccountName(s.name), password: alternate } : { user: s.name, password: s[k.primaryProp]! };
}

/** The props of one kind of alternate account (RabbitMQ or database), for validateAlternateAccount. */
interface AlternateAccountProps {
  readonly what: 'RabbitMQ' | 'database';
  readonly enumName: string;
  readonly values: readonly string[];
  readonly accountProp: 'messagingAccount' | 'databaseAccount';
  readonly alternateProp: 'messagingAlternatePassword' | 'databaseAlternatePassword';
  readonly primaryProp: 'messagingPassword' | 'databasePassword';
  /** Whether service `o` has its own account of this kind. */
  readonly hasAccount: (o: OpenStackService) => boolean;
}

export const MESSAGING_ACCOUNTS: AlternateAccountProps = {
  what: 'RabbitMQ', enumName: 'MessagingAccount', values: Object.values(MessagingAccount), accountProp: 'messagingAccount',
  alternateProp: 'messagingAlternatePassword', primaryProp: 'messagingPassword', hasAccount: (o) => o.messagingPassword !== undefined,
};

export const DATABASE_ACCOUNTS: AlternateAccountProps = {
  what: 'database', enumName: 'DatabaseAccount', values: Object.values(DatabaseAccount), accountProp: 'databaseAccount',
  alternateProp: 'databaseAlternatePassword', primaryProp: 'databasePassword', hasAccount: (o) => (o.databases ?? [o.name]).length > 0,
};

const ALTERNATE_ACCOUNTS: readonly AlternateAccountProps[] = [MESSAGING_ACCOUNTS, DATABASE_ACCOUNTS];

/** The alternate accounts of services[i]: their Secrets, the account each connection names, and names no other account has. */
export function validateAlternateAccount(v: Validator, services: readonly OpenStackService[], i: number): void {
  const s = services[i];
  const at = `services[${i}]`;
  for (const k of ALTERNATE_ACCOUNTS) {
    const account: string = s[k.accountProp] ?? 'primary';
    const alternate = s[k.alternateProp];
    if (!v.check(!k.values.includes(account), `${at}.${k.accountProp}`, account,
      `is not a ${k.enumName}; use ${k.enumName}.PRIMARY or ${k.enumName}.ALTERNATE`)) {
      v.check(account === 'alternate' && alternate === undefined, `${at}.${k.accountProp}`, account,
        `names the alternate account ${alternateAccountName(s.name)}, which has no password; set ${k.alternateProp}, or use ${k.enumName}.PRIMARY`);
    }
    if (alternate === undefined) continue;
    validateSecretValue(v, `${at}.${k.alternateProp}`, alternate);
    v.check(s[k.primaryProp] === undefined || !k.hasAccount(s), `${at}.${k.alternateProp}`, alternate.toString(),
      `is set but ${s.name} has no ${k.what} account to alternate with (${k.primaryProp}${k.what === 'database' ? ', or databases' : ''}); set it too, or remove ${k.alternateProp}`);
    const other = services.findIndex((o) => o.name === alternateAccountName(s.name) && k.hasAccount(o));
    v.check(other >= 0, `${at}.${k.alternateProp}`, alternate.toString(),
      `would create the account ${alternateAccountName(s.name)}, which is services[${other}]'s own ${k.what === 'RabbitMQ' ? 'messaging' : k.what} account; rename that service`);
  }
}
