#!/usr/bin/env python3
"""A stand-in for the `mariadb` client, for assets/proxysql/credentials.sh (test/proxysql-credentials.test.ts).

It plays both ends the watcher talks to, from a state file (STUB_DIR/state.json):
- port 6032: ProxySQL's admin interface. `memory` is ProxySQL's main tables (mysql_users passwords, the
  mysql-monitor_password variable), `runtime` what LOAD ... TO RUNTIME copied from them; `servers` the rows of
  runtime_mysql_servers. It answers only the statements the watcher may send and fails on anything else, so an
  unexpected statement fails the test. `admin_failures` (a count) fails that many calls first, as a ProxySQL that
  restarts would; `fail_on` fails a call holding that text (after running the statements before it, as the real
  client does).
- any other port: a Galera member (or, with STUB_REAL_CLIENT, the real client it names, for a real mariadbd). `members[user]` lists the passwords it accepts (MariaDB keeps the old one and
  the new one during a rotation); `down` lists the hosts that do not answer.

Every call is appended to STUB_DIR/calls.jsonl: argv, the option file's user and password, the SQL, and the
environment and command line of this process and of its parent (the watcher), to check that no password is there.
"""
import json
import os
import re
import sys

STUB_DIR = os.environ['STUB_DIR']
STATE = os.path.join(STUB_DIR, 'state.json')
HEX = r"CAST\(X'([0-9A-F]*)' AS TEXT\)"
ADMIN_PORT = '6032'


def text(hex_digits):
    return bytes.fromhex(hex_digits).decode('utf-8', 'surrogateescape')


def option_file(path):
    """[client] user= and password="..." as the real client reads them: \\ and \" inside the quotes."""
    found = {}
    with open(path, encoding='utf-8', errors='surrogateescape') as f:
        for line in f.read().split('\n'):
            m = re.match(r'^(\w+)=(.*)$', line)
            if not m:
                continue
            value = m.group(2)
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                value = re.sub(r'\\(.)', r'\1', value[1:-1])
            found[m.group(1)] = value
    return found


def proc(pid, what):
    try:
        with open(f'/proc/{pid}/{what}', 'rb') as f:
            return f.read().decode('utf-8', 'surrogateescape')
    except OSError:
        return ''


def main():
    args = sys.argv[1:]
    host = args[args.index('-h') + 1] if '-h' in args else ''
    port = args[args.index('-P') + 1] if '-P' in args else ''
    if port != ADMIN_PORT and os.environ.get('STUB_REAL_CLIENT'):
        # A real member (test/integration/proxysql-credentials-mariadb.wip.ts): the real client, untouched option
        # file and stdin; only the call itself is recorded.
        with open(os.path.join(STUB_DIR, 'calls.jsonl'), 'a') as f:
            f.write(json.dumps({'argv': args, 'host': host, 'port': port, 'real': True, 'environ': proc('self', 'environ'),
                                'parent_environ': proc(os.getppid(), 'environ'), 'parent_cmdline': proc(os.getppid(), 'cmdline')}) + '\n')
        os.execv(os.environ['STUB_REAL_CLIENT'], ['mariadb'] + args)
    defaults = [a.split('=', 1)[1] for a in args if a.startswith('--defaults-file=')]
    options = option_file(defaults[0]) if defaults else {}
    sql = sys.stdin.read()
    with open(STATE) as f:
        raw = f.read()
    state, loaded = json.loads(raw), json.loads(raw)
    call = {
        'argv': args, 'host': host, 'port': port, 'user': options.get('user'), 'password': options.get('password'), 'sql': sql,
        'environ': proc('self', 'environ'), 'cmdline': proc('self', 'cmdline'),
        'parent_environ': proc(os.getppid(), 'environ'), 'parent_cmdline': proc(os.getppid(), 'cmdline'),
    }
    with open(os.path.join(STUB_DIR, 'calls.jsonl'), 'a') as f:
        f.write(json.dumps(call, ensure_ascii=False) + '\n')

    if port != ADMIN_PORT:
        if host in state.get('down', []):
            print(f"ERROR 2002 (HY000): Can't connect to server on '{host}' (115)", file=sys.stderr)
            return 1
        if options.get('password') in state.get('members', {}).get(options.get('user'), []):
            print('1')
            return 0
        print(f"ERROR 1045 (28000): Access denied for user '{options.get('user')}'@'10.0.0.9' (using password: YES)", file=sys.stderr)
        return 1

    if state.get('admin_failures', 0) > 0:
        state['admin_failures'] -= 1
        save(state, loaded)
        print("ERROR 2013 (HY000): Lost connection to server at 'handshake: reading initial communication packet'", file=sys.stderr)
        return 1
    if options.get('user') != 'admin' or options.get('password') != state['admin_password']:
        print("ERROR 1045 (28000): ProxySQL Error: Access denied for user 'admin'", file=sys.stderr)
        return 1
    memory, runtime = state['memory'], state['runtime']
    out = []
    for statement in [s.strip() for s in sql.split(';\n') if s.strip()]:
        statement = statement.rstrip(';')
        if state.get('fail_on') and state['fail_on'] in statement:
            save(state, loaded)
            print(f"ERROR 1045 (28000) at line 2: ProxySQL Admin Error: near {sql!r}: syntax error", file=sys.stderr)
            return 1
        if m := re.fullmatch(rf'SELECT COUNT\(\*\) FROM mysql_users WHERE username={HEX} AND password={HEX}', statement):
            out.append('1' if memory['users'].get(text(m.group(1))) == text(m.group(2)) else '0')
        elif m := re.fullmatch(rf"SELECT COUNT\(\*\) FROM global_variables WHERE variable_name='mysql-monitor_password' AND variable_value={HEX}", statement):
            out.append('1' if memory['monitor'] == text(m.group(1)) else '0')
        elif statement == "SELECT DISTINCT hostname, port FROM runtime_mysql_servers WHERE status='ONLINE' ORDER BY hostname, port":
            out.extend(f'{h}\t{p}' for h, p in sorted({(s[0], s[1]) for s in state['servers'] if s[2] == 'ONLINE'}))
        elif m := re.fullmatch(rf'UPDATE mysql_users SET password={HEX} WHERE username={HEX}', statement):
            if text(m.group(2)) in memory['users']:
                memory['users'][text(m.group(2))] = text(m.group(1))
        elif m := re.fullmatch(rf"UPDATE global_variables SET variable_value={HEX} WHERE variable_name='mysql-monitor_password'", statement):
            memory['monitor'] = text(m.group(1))
        elif statement == 'LOAD MYSQL USERS TO RUNTIME':
            runtime['users'] = dict(memory['users'])
            state['loads'] = state.get('loads', []) + ['users']
        elif statement == 'LOAD MYSQL VARIABLES TO RUNTIME':
            runtime['monitor'] = memory['monitor']
            state['loads'] = state.get('loads', []) + ['variables']
        else:
            save(state, loaded)
            print(f'ERROR 1064 (42000): the stub does not know this statement: {statement!r}', file=sys.stderr)
            return 1
    save(state, loaded)
    if out:
        print('\n'.join(out))
    return 0


def save(state, loaded):
    """Writes the state back only if this call changed it. The test changes the file too while a watcher runs
    (the members' passwords, a Secret's rotation); a call that only read, writing back what it had read, would undo
    a change the test made in between (CI lost the members' new password that way, and the watch test timed out)."""
    if state == loaded:
        return
    with open(STATE + '.tmp', 'w') as f:
        json.dump(state, f, ensure_ascii=False)
    os.replace(STATE + '.tmp', STATE)


sys.exit(main())
