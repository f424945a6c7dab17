/** Reading a rendered my.cnf in tests: the `key = value` pairs of one section, and Galera's provider options. */

/** `key = value` pairs of one section. */
export function section(text: string, name: string): Record<string, string> {
  const body = text.split(/^\[/m).find((s) => s.startsWith(`${name}]`)) ?? '';
  return Object.fromEntries(body.split('\n').slice(1).filter((l) => l.includes(' = ')).map((l) => l.split(' = ', 2) as [string, string]));
}

/** `wsrep_provider_options` of the `[galera]` section, by key. */
export function providerOptions(text: string): Record<string, string> {
  const raw = section(text, 'galera').wsrep_provider_options.replace(/^"|"$/g, '');
  return Object.fromEntries(raw.split('; ').map((kv) => kv.split('=', 2) as [string, string]));
}
