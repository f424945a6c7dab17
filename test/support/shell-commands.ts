/**
 * Which programs a bash script can run: a static check for scripts shipped into images whose contents are pinned
 * (lib/proxysql/image.ts). bash itself first reprints the script in its canonical form (`declare -f` of a function
 * wrapping it: one simple command per line, no comments, fixed spacing), so this only has to read that form:
 * function definitions, simple commands separated by ; & && || | ( ) and newlines, keywords, assignments,
 * redirections, quoting, ${...}, $((...)), [[...]], case patterns, and the code inside $(...), <(...) and `trap`.
 * Command substitutions are reprinted verbatim, so their content goes through bash the same way.
 *
 * Anything it cannot follow (a command chosen at run time, eval, source, a here-document, backquotes) is reported as
 * a problem rather than skipped, so a script the checker cannot read fails the test instead of passing it.
 *
 * The canonical form and the list of builtins come from the bash that runs the tests: 5.2 on Debian 12, the same
 * bash as the ProxySQL image's Debian build. The checker's own tests (test/proxysql-image.test.ts) fail if another
 * bash prints the form differently.
 */
import { spawnSync } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

export interface ScriptCommands {
  /** The interpreter named on the `#!` line, if any. */
  readonly interpreter?: string;
  /** Programs the script can run that are neither bash builtins, keywords nor its own functions. Sorted. */
  readonly external: readonly string[];
  /** What the checker could not follow. */
  readonly problems: readonly string[];
}

let bashNames: { builtins: Set<string>; keywords: Set<string> } | undefined;
function bashBuiltins() {
  if (!bashNames) {
    const list = (flag: string) => new Set(run(['-c', `compgen ${flag}`]).split('\n').filter(Boolean));
    bashNames = { builtins: list('-b'), keywords: list('-k') };
  }
  return bashNames;
}

function run(args: string[]): string {
  const r = spawnSync('bash', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bash ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** bash's canonical text of `code`, without the wrapper's first two lines and last line. */
function canonical(code: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'shell-commands-'));
  try {
    const file = join(dir, 'wrapped.sh');
    writeFileSync(file, `__wrapped__() {\n${code}\n}\n`);
    const lines = run(['-c', 'source "$1" && declare -f __wrapped__', 'check', file]).split('\n');
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines.slice(2, -1).join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A piece of code with no function definitions left in it, and the names it may run. */
interface Unit {
  readonly calls: string[];
  readonly dynamic: string[];
  readonly problems: string[];
}

/**
 * The programs `script` can run when invoked as `script <entry>`: its top-level code, the function the top level
 * dispatches to through a command chosen at run time (`"$1"`, allowed only with `entry`), and every function these
 * reach. Functions never reached (another subcommand's) do not count.
 */
export function commandsRunBy(script: string, entry?: string): ScriptCommands {
  const interpreter = /^#!\s*(\S+)/.exec(script)?.[1];
  const functions = new Map<string, Unit>();
  const top = analyse(canonical(script), functions);
  const problems = [...top.problems];
  const { builtins, keywords } = bashBuiltins();
  const external = new Set<string>();
  const seen = new Set<string>();
  const visit = (unit: Unit, where: string) => {
    for (const name of unit.calls) {
      const fn = functions.get(name);
      if (fn) {
        if (!seen.has(name)) {
          seen.add(name);
          problems.push(...fn.problems.map((p) => `${name}: ${p}`));
          visit(fn, name);
        }
      } else if (!builtins.has(name) && !keywords.has(name)) {
        external.add(name);
      }
    }
    for (const d of unit.dynamic) {
      if (where === 'top level' && entry !== undefined) {
        visit({ calls: [entry], dynamic: [], problems: [] }, where);
      } else {
        problems.push(`${where}: runs a command chosen at run time (${d}), which cannot be checked`);
      }
    }
  };
  if (entry !== undefined && !functions.has(entry)) problems.push(`no function ${entry} to dispatch to`);
  visit(top, 'top level');
  return { interpreter, external: [...external].sort(), problems };
}

/** Splits canonical text into its function definitions (recorded in `functions`) and the rest, analysed. */
function analyse(text: string, functions: Map<string, Unit>): Unit {
  const lines = text.split('\n');
  const rest: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /^(\s*)function (\S+) \(\) ?$/.exec(lines[i]);
    if (head && lines[i + 1]?.trimEnd() === `${head[1]}{`) {
      const indent = head[1];
      let end = i + 2;
      while (end < lines.length && !(lines[end].startsWith(`${indent}}`) && !lines[end].startsWith(`${indent} `))) end++;
      functions.set(head[2], analyse(lines.slice(i + 2, end).join('\n'), functions));
      i = end;
      continue;
    }
    rest.push(lines[i]);
  }
  return analyseCommands(rest.join('\n'), functions);
}

/** Extracts $(...), <(...) and >(...) (their code analysed in turn), then reads the simple commands. */
function analyseCommands(text: string, functions: Map<string, Unit>): Unit {
  const unit: Unit = { calls: [], dynamic: [], problems: [] };
  const merge = (u: Unit) => {
    unit.calls.push(...u.calls);
    unit.dynamic.push(...u.dynamic);
    unit.problems.push(...u.problems);
  };
  const nested = (code: string) => merge(analyse(canonical(code), functions));
  let out = '';
  let quote: '' | '"' | "'" = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quote !== "'") {
      out += text.slice(i, i + 2);
      i++;
    } else if (c === "'" && quote !== '"') {
      quote = quote === "'" ? '' : "'";
      out += c;
    } else if (c === '"' && quote !== "'") {
      quote = quote === '"' ? '' : '"';
      out += c;
    } else if (c === '`' && quote !== "'") {
      unit.problems.push('backquote command substitution (use $(...))');
      out += c;
    } else if (quote !== "'" && text[i + 1] === '(' && text[i + 2] !== '(' && (c === '$' || (quote === '' && (c === '<' || c === '>')))) {
      const end = closingParen(text, i + 2);
      nested(text.slice(i + 2, end));
      out += '__substituted__';
      i = end;
    } else {
      out += c;
    }
  }
  merge(readCommands(lex(out, unit.problems), unit.problems, nested));
  return unit;
}

/** The index of the `)` that closes a `(` opened just before `start`, skipping quotes and nested parentheses. */
function closingParen(text: string, start: number): number {
  let depth = 1;
  let quote = '';
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quote !== "'") i++;
    else if (quote) {
      if (c === quote) quote = '';
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  throw new Error(`unclosed ( in: ${text.slice(start - 2, start + 60)}`);
}

type Token = { readonly word: string } | { readonly sep: string };

function lex(text: string, problems: string[]): Token[] {
  const tokens: Token[] = [];
  let word = '';
  const flush = () => {
    if (word !== '') tokens.push({ word });
    word = '';
  };
  const skipTo = (i: number, close: string, open: string) => {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      if (text[j] === '\\') j++;
      else if (text.startsWith(open, j)) depth++;
      else if (text.startsWith(close, j) && --depth === 0) return j + close.length;
    }
    throw new Error(`unclosed ${open} in: ${text.slice(i, i + 60)}`);
  };
  for (let i = 0; i < text.length; ) {
    const c = text[i];
    const two = text.slice(i, i + 2);
    if (c === ' ' || c === '\t') {
      flush();
      i++;
    } else if (c === '\\') {
      word += text.slice(i, i + 2);
      i += 2;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      word += text.slice(i, end + 1);
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      word += text.slice(i, j + 1);
      i = j + 1;
    } else if (two === '${') {
      const end = skipTo(i + 1, '}', '{');
      word += text.slice(i, end);
      i = end;
    } else if (text.startsWith('$((', i)) {
      const end = skipTo(i + 1, ')', '(');
      word += text.slice(i, end);
      i = end;
    } else if (two === "$'") {
      let j = i + 2;
      while (j < text.length && text[j] !== "'") j += text[j] === '\\' ? 2 : 1;
      word += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '(' && (word.endsWith('=') || (word === '' && text[i + 1] === '('))) {
      // an array assignment `a=(x y)`, or an arithmetic command `((...))`
      const end = skipTo(i, ')', '(');
      word += text.slice(i, end);
      i = end;
    } else if (c === '&' && (word.endsWith('>') || word.endsWith('<') || text[i + 1] === '>')) {
      word += c;
      i++;
    } else if (text.startsWith(';;&', i) || two === ';;' || two === ';&' || two === '&&' || two === '||' || two === '|&') {
      flush();
      tokens.push({ sep: text.startsWith(';;&', i) ? ';;' : two === ';&' ? ';;' : two });
      i += text.startsWith(';;&', i) ? 3 : 2;
    } else if (c === '\n' || c === ';' || c === '&' || c === '|' || c === '(' || c === ')') {
      flush();
      tokens.push({ sep: c });
      i++;
    } else {
      word += c;
      i++;
    }
  }
  flush();
  if (tokens.some((t) => 'word' in t && /^\d*<<-?[^<]/.test(t.word + ' '))) problems.push('here-document (not supported by the checker)');
  return tokens;
}

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;
const REDIRECTION = /^(\d+|\{[A-Za-z_]\w*\})?(<<<|<<-|<<|<>|>>|>\||>&|<&|&>>|&>|<|>)(.*)$/s;
/** Keywords after which a command follows. */
const LEADING = new Set(['if', 'then', 'elif', 'else', 'fi', 'do', 'done', 'while', 'until', '{', '}', '!', 'time', 'esac']);

function unquote(word: string): string {
  return word.replace(/\\(.)/g, '$1').replace(/'([^']*)'|"((?:\\.|[^"\\])*)"/g, (_m, s, d) => s ?? d);
}

function readCommands(tokens: Token[], problems: string[], nested: (code: string) => void): Unit {
  const unit: Unit = { calls: [], dynamic: [], problems: [] };
  let atCommand = true;
  let mode: 'normal' | 'skip-to-sep' | 'case-head' | 'pattern' | 'test' = 'normal';
  let current = '';
  let skipTarget = false;
  let after = '';
  const record = (raw: string) => {
    const name = unquote(raw);
    if (name.includes('$') || name.includes('__substituted__')) unit.dynamic.push(raw);
    else unit.calls.push(name);
  };
  for (const t of tokens) {
    if ('sep' in t) {
      if (mode === 'pattern') {
        if (t.sep === ')') mode = 'normal';
        continue;
      }
      if (mode === 'test' || mode === 'case-head') continue;
      mode = t.sep === ';;' ? 'pattern' : 'normal';
      atCommand = true;
      current = '';
      after = '';
      skipTarget = false;
      continue;
    }
    const w = t.word;
    if (mode === 'pattern') {
      if (w === 'esac') mode = 'normal';
      continue;
    }
    if (mode === 'case-head') {
      if (w === 'in') mode = 'pattern';
      continue;
    }
    if (mode === 'test') {
      if (w === ']]') mode = 'normal';
      continue;
    }
    if (mode === 'skip-to-sep') continue;
    if (skipTarget) {
      skipTarget = false;
      continue;
    }
    const redirection = REDIRECTION.exec(w);
    if (redirection) {
      if (redirection[3] === '') skipTarget = true;
      continue;
    }
    if (atCommand) {
      // bash prints `coproc NAME command` and may keep `time -p`: the name and the option are not commands.
      const previous = after;
      after = w;
      if (previous === 'coproc' || (previous === 'time' && w.startsWith('-'))) continue;
      if (ASSIGNMENT.test(w) || w.startsWith('((')) continue;
      if (LEADING.has(w) || w === 'coproc') continue;
      if (w === 'for' || w === 'select') {
        mode = 'skip-to-sep';
        continue;
      }
      if (w === 'case') {
        mode = 'case-head';
        continue;
      }
      if (w === '[[') {
        mode = 'test';
        atCommand = false;
        continue;
      }
      if (w === 'eval' || w === 'source' || w === '.' || w === 'function') problems.push(`${w} (not supported by the checker)`);
      record(w);
      current = unquote(w);
      atCommand = false;
      continue;
    }
    // an argument of `current`
    if ((current === 'exec' || current === 'command') && !w.startsWith('-')) {
      record(w);
      current = unquote(w);
    } else if (current === 'trap') {
      nested(unquote(w));
      current = 'trap-signals';
    }
  }
  return unit;
}
