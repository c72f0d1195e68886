// Extension-host test runner (plain JS, no mocha): VS Code loads this module as
// extensionTestsPath and calls run(); a rejection makes the window exit with code 1.
// Each result also goes to $CODEFILL_TEST_RESULTS as JSON for pytest to report.
const fs = require('fs');
const path = require('path');

const DEFAULT_TIMEOUT_MS = 90_000;

async function withTimeout(promise, ms, name) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function run() {
  const { tests } = require(path.join(__dirname, 'tests.js'));
  const results = [];
  const out = process.env.CODEFILL_TEST_RESULTS;
  const save = () => out && fs.writeFileSync(out, JSON.stringify(results, null, 2));
  for (const t of tests) {
    const started = Date.now();
    try {
      await withTimeout(Promise.resolve().then(t.fn), t.timeout ?? DEFAULT_TIMEOUT_MS, t.name);
      results.push({ name: t.name, ok: true, ms: Date.now() - started });
    } catch (err) {
      results.push({ name: t.name, ok: false, ms: Date.now() - started, error: String(err && err.stack || err) });
      if (t.stopOnFailure) break;
    }
    save();
  }
  save();
  const failed = results.filter((r) => !r.ok);
  if (failed.length) throw new Error(`${failed.length} of ${results.length} failed: ${failed.map((f) => f.name).join(', ')}`);
}

module.exports = { run };
