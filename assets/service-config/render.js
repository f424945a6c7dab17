// Renders an OpenStack service's oslo.config file at pod start (init container, stock node image), from a
// template whose secrets are @@NAME@@ placeholders and env vars NAME fed by secretKeyRefs. Node built-ins only.
//
// Usage: node render.js <template> <variables.tsv> <output>
//   variables.tsv: one `NAME<TAB>secret-name/key` line per variable (for messages; the values come from the env)
//
// oslo.config reads the file, so each value is written the way its parser and the option's consumer read it:
// - inside a URL (a value with "scheme://"): percent-encoded, as the URL parsers of oslo.messaging and
//   SQLAlchemy unquote it ('@', ':', '/', '%', ... in a password would otherwise break the URL);
// - anywhere else: as is, but '$' doubled (oslo.config substitutes $name in values), and a value that starts or
//   ends with a quote or a blank wrapped in double quotes (the ini parser strips one pair of matching quotes and
//   surrounding blanks).
// A '/' in a value inside a rabbit:// URL is refused: oslo.messaging re-quotes the password it parsed with
// urllib's quote(), which leaves '/' as is, for kombu (impl_rabbit.py _transform_transport_url, 14.0 to 2026),
// so kombu reads the rest of the password as the port and every connection fails.
// A variable that is unset (missing Secret or key: the secretKeyRefs are optional so that this message, naming
// the variable, is what the pod shows), empty, or holding a line break fails the render; nothing is written.
'use strict';
const fs = require('fs');
const path = require('path');

const PLACEHOLDER = /@@([A-Z0-9_]+)@@/g;
const URL_VALUE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

function render(template, variables, env) {
  const problems = [];
  for (const name of Object.keys(variables)) {
    const value = env[name];
    if (value === undefined) problems.push(`${name} is not set: Secret ${variables[name]} is missing (no such Secret or key)`);
    else if (value === '') problems.push(`${name} is empty (Secret ${variables[name]})`);
    else if (/[\r\n\0]/.test(value)) problems.push(`${name} holds a line break or NUL (Secret ${variables[name]}); an ini value cannot`);
  }
  for (const line of template.split('\n')) {
    const value = line.slice(line.indexOf('=') + 1).trim();
    if (!/^rabbit:\/\//.test(value)) continue;
    for (const [, name] of value.matchAll(PLACEHOLDER)) {
      if (env[name]?.includes('/') && !problems.some((p) => p.startsWith(`${name} holds a '/'`))) {
        problems.push(`${name} holds a '/' (Secret ${variables[name]}), which oslo.messaging cannot pass to RabbitMQ in a transport URL; use a password without '/'`);
      }
    }
  }
  const unknown = [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]).filter((n) => !(n in variables)))];
  for (const name of unknown) problems.push(`@@${name}@@ has no variable; the template and variables.tsv disagree`);
  if (problems.length > 0) return { problems };

  const lines = template.split('\n').map((line) => {
    const eq = line.indexOf('=');
    if (eq < 0 || !PLACEHOLDER.test(line)) return line;
    PLACEHOLDER.lastIndex = 0;
    const key = line.slice(0, eq);
    const raw = line.slice(eq + 1).trim();
    if (URL_VALUE.test(raw)) return `${key}= ${raw.replace(PLACEHOLDER, (_, n) => encodeURIComponent(env[n]))}`;
    const value = raw.replace(PLACEHOLDER, (_, n) => env[n].replace(/\$/g, '$$$$'));
    const quote = /^\s|\s$/.test(value) || /^["']/.test(value) || /["']$/.test(value);
    return `${key}= ${quote ? `"${value}"` : value}`;
  });
  return { text: lines.join('\n') };
}

/** `NAME<TAB>secret/key` lines -> { NAME: 'secret/key' }. */
function parseVariables(text) {
  return Object.fromEntries(text.split('\n').filter((l) => l.trim() !== '').map((l) => l.split('\t')));
}

function main(argv) {
  const [templateFile, variablesFile, output] = argv;
  const variables = parseVariables(fs.readFileSync(variablesFile, 'utf8'));
  const result = render(fs.readFileSync(templateFile, 'utf8'), variables, process.env);
  if (result.problems) {
    for (const p of result.problems) process.stderr.write(`render: ${p}\n`);
    process.exit(1);
  }
  // Written beside the target, then renamed: the service never reads a half-written file.
  const tmp = path.join(path.dirname(output), `.${path.basename(output)}.tmp`);
  fs.writeFileSync(tmp, result.text, { mode: 0o440 });
  fs.renameSync(tmp, output);
  process.stdout.write(`render: wrote ${output} (${Object.keys(variables).length} secrets)\n`);
}

if (require.main === module) main(process.argv.slice(2));
module.exports = { render, parseVariables };
