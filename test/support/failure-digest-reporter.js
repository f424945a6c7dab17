// A jest reporter that prints, after jest's own summary, every failed test with the head of its failure message.
// Why: CI keeps only the tail of a long run's output, and jest prints a failure where it happens, up to half an
// hour before the end of the integration run; without this digest the tail says "6 failed" and not which or why.
// Plain JavaScript because jest loads reporters without the ts-jest transform.
const MESSAGE_LINES = 12;

// eslint-disable-next-line no-control-regex
const stripColour = (text) => text.replace(/\u001b\[[0-9;]*m/g, '');

// A stack frame outside the project's own test and lib files (jest, node, node_modules): noise in a digest.
const isForeignFrame = (line) => /^\s+at /.test(line) && (/node_modules/.test(line) || !/\/(test|lib)\/\S*:\d+/.test(line));

class FailureDigestReporter {
  onRunComplete(_contexts, results) {
    const failures = [];
    for (const file of results.testResults) {
      const where = file.testFilePath.replace(`${process.cwd()}/`, '');
      if (file.testExecError) {
        failures.push({ name: `${where} (the file did not run)`, message: file.testExecError.message ?? String(file.testExecError) });
      }
      for (const test of file.testResults.filter((t) => t.status === 'failed')) {
        failures.push({ name: `${where} › ${test.fullName}`, message: test.failureMessages.join('\n') });
      }
      if (file.failureMessage && file.testResults.every((t) => t.status !== 'failed') && !file.testExecError) {
        failures.push({ name: `${where} (hooks)`, message: file.failureMessage });
      }
    }
    if (failures.length === 0) return;
    const out = [`\nFailure digest: ${failures.length} failure(s), the first ${MESSAGE_LINES} lines of each`];
    for (const f of failures) {
      const lines = stripColour(f.message).split('\n').filter((l) => l.trim() !== '' && !isForeignFrame(l));
      out.push(`\n✕ ${f.name}`, ...lines.slice(0, MESSAGE_LINES).map((l) => `    ${l}`));
    }
    process.stderr.write(`${out.join('\n')}\n`);
  }
}

module.exports = FailureDigestReporter;
