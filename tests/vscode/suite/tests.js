// Assertions inside VS Code's extension host, against the real `codefill lsp` (started by
// the extension) and a real `codefill serve` on the tiny random model; then a fake server's
// edge cases. Waits are for events, bounded; triggers are retried because VS Code may drop
// a trigger that races a document change.
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const vscode = require('vscode');

const env = process.env;
const workspace = env.CODEFILL_TEST_WORKSPACE;
let api;

function later(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Resolves with the first event `predicate` accepts; `poke` runs at once and every
// `retryMs` until then (re-triggering what VS Code may have dropped).
function eventually(event, predicate, { timeoutMs = 60_000, retryMs = 4_000, poke, what }) {
  return new Promise((resolve, reject) => {
    let timer;
    const sub = event((value) => {
      if (!predicate(value)) return;
      cleanup();
      resolve(value);
    });
    const deadline = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: nothing within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      sub.dispose();
      clearTimeout(deadline);
      clearInterval(timer);
    };
    if (poke) {
      Promise.resolve().then(poke).catch(() => {});
      timer = setInterval(() => Promise.resolve().then(poke).catch(() => {}), retryMs);
    }
  });
}

async function until(check, { timeoutMs = 30_000, intervalMs = 100, what }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await later(intervalMs);
  }
}

async function openAtEnd(name, text) {
  const file = path.join(workspace, name);
  fs.writeFileSync(file, text);
  const doc = await vscode.workspace.openTextDocument(file);
  const editor = await vscode.window.showTextDocument(doc, { preview: false });
  const end = doc.lineAt(doc.lineCount - 1).range.end;
  editor.selection = new vscode.Selection(end, end);
  return editor;
}

function trigger() {
  return vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
}

async function provided(editor, what) {
  const uri = editor.document.uri.toString();
  return eventually(api.onDidProvide, (p) => p.uri === uri && p.items.length > 0, { poke: trigger, what });
}

async function configure(values) {
  const config = vscode.workspace.getConfiguration('codefill');
  for (const [key, value] of Object.entries(values)) {
    await config.update(key, value, vscode.ConfigurationTarget.Workspace);
  }
}

async function closeAll() {
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
}

const tests = [
  {
    name: "activates and starts the workspace's .venv/bin/codefill lsp",
    stopOnFailure: true,
    fn: async () => {
      const ext = vscode.extensions.getExtension('codefill.codefill');
      assert.ok(ext, 'extension codefill.codefill is not installed');
      api = await ext.activate();
      await api.started();
      assert.ok(api.client() && api.client().isRunning(), `the language client is not running (state ${api.state()})`);
      assert.strictEqual(api.server().source, 'workspace .venv');
      assert.match(api.server().command, /codefill$/);
      assert.strictEqual(api.state(), 'ready');
    },
  },
  {
    name: 'inline completion from codefill serve reaches the editor and commit inserts it',
    fn: async () => {
      const editor = await openAtEnd('add.py', 'def add(a, b):\n    ');
      const got = await provided(editor, 'an inline completion from codefill serve');
      const item = got.items[0];
      assert.ok(item.insertText.startsWith('    '), `the item replaces the line from its start: ${JSON.stringify(item.insertText)}`);
      assert.ok(item.insertText.length > 4, 'the completion is not empty');
      // The same request straight to the language server gives the same text (greedy model, its cache).
      const direct = await api.client().sendRequest('textDocument/inlineCompletion', {
        textDocument: { uri: got.uri },
        position: { line: got.line, character: got.character },
        context: { triggerKind: 1 },
      });
      assert.strictEqual(direct.items[0].insertText, item.insertText);
      assert.ok(api.lastLatencyMs() !== undefined);
      // Commit: VS Code's own accept, as Tab does; retried until the ghost text is shown.
      const before = editor.document.getText();
      await until(
        async () => {
          await vscode.commands.executeCommand('codefill.acceptAll');
          return editor.document.getText() !== before;
        },
        { timeoutMs: 20_000, intervalMs: 300, what: 'accepting the suggestion' },
      );
      const text = editor.document.getText();
      assert.strictEqual(text, 'def add(a, b):\n' + item.insertText);
      await editor.document.save();
    },
  },
  {
    name: 'completion item from codefill serve, same as the language server answers',
    fn: async () => {
      await configure({ completionItems: true });
      const editor = await openAtEnd('mul.py', 'def mul(a, b):\n    return ');
      const position = editor.selection.active;
      const item = await until(
        async () => {
          const list = await vscode.commands.executeCommand('vscode.executeCompletionItemProvider', editor.document.uri, position);
          return list.items.find((i) => i.detail === 'codefill');
        },
        { timeoutMs: 60_000, intervalMs: 500, what: 'a codefill completion item' },
      );
      const direct = await api.client().sendRequest('textDocument/completion', {
        textDocument: { uri: editor.document.uri.toString() },
        position: { line: position.line, character: position.character },
        context: { triggerKind: 1 },
      });
      const expected = direct.items[0].textEdit.newText;
      const actual = typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
      assert.strictEqual(actual, expected);
      assert.ok(expected.startsWith('    return '));
      await configure({ completionItems: false });
      const off = await vscode.commands.executeCommand('vscode.executeCompletionItemProvider', editor.document.uri, position);
      assert.ok(!off.items.some((i) => i.detail === 'codefill'), 'completionItems=false still offers the item');
    },
  },
  {
    name: 'dismiss (Escape) reports codefill.dismissed',
    fn: async () => {
      const editor = await openAtEnd('sub.py', 'def sub(a, b):\n    ');
      await provided(editor, 'a suggestion to dismiss');
      await vscode.commands.executeCommand('codefill.dismiss');
    },
  },
  {
    name: 'disabled for a language: no request',
    fn: async () => {
      const editor = await openAtEnd('notes.md', '# notes\n\nsome ');
      await vscode.workspace
        .getConfiguration('codefill', { languageId: 'markdown' })
        .update('enable', false, vscode.ConfigurationTarget.Workspace, true);
      let asked = false;
      const sub = api.onDidProvide((p) => {
        if (p.uri === editor.document.uri.toString()) asked = true;
      });
      await trigger();
      await later(1_500); // nothing to wait for: the assertion is that nothing comes
      sub.dispose();
      assert.ok(!asked);
      assert.strictEqual(api.state(), 'disabled');
      await vscode.workspace
        .getConfiguration('codefill', { languageId: 'markdown' })
        .update('enable', undefined, vscode.ConfigurationTarget.Workspace, true);
      await closeAll();
    },
  },
  {
    name: 'unreachable server: one clear error, status error',
    fn: async () => {
      await configure({ url: env.CODEFILL_TEST_DEAD_URL });
      const editor = await openAtEnd('dead.py', 'def dead():\n    ');
      const message = await eventually(api.onDidMessage, (m) => /cannot reach/.test(m.message), {
        poke: trigger,
        what: 'the unreachable message',
      });
      assert.match(message.message, new RegExp(env.CODEFILL_TEST_DEAD_URL.replace(/[.:/]/g, '\\$&')));
      await until(() => api.state() === 'error', { what: 'status error' });
      void editor;
    },
  },
  {
    name: 'key refused (401): message names the API key; a key from SecretStorage fixes it',
    fn: async () => {
      await configure({ url: `${env.CODEFILL_TEST_FAKE_URL}/auth` });
      const editor = await openAtEnd('auth.py', 'def auth():\n    ');
      const message = await eventually(api.onDidMessage, (m) => /API key/.test(m.message), {
        poke: trigger,
        what: 'the refused-key message',
      });
      assert.match(message.message, /wants an API key|refused the API key/);
      await until(() => api.state() === 'error', { what: 'status error' });
      await api.secrets.store('codefill.apiKey', env.CODEFILL_TEST_API_KEY);
      await until(() => api.state() !== 'error', { what: 'the new key clearing the error' });
      // The user types on: a new position, which neither VS Code nor the server has an answer for.
      const end = editor.document.lineAt(1).range.end;
      await editor.edit((edit) => edit.insert(end, 'x = '));
      const got = await provided(editor, 'a completion with the key');
      assert.strictEqual(got.items[0].insertText, '    x = return a + b');
      await until(() => api.state() === 'ready', { what: 'status ready again' });
      const settings = fs.readFileSync(path.join(workspace, '.vscode', 'settings.json'), 'utf8');
      assert.ok(!settings.includes(env.CODEFILL_TEST_API_KEY), 'the key landed in settings.json');
    },
  },
  {
    name: 'accept next word, then next line: parts of the suggestion',
    fn: async () => {
      await configure({ url: `${env.CODEFILL_TEST_FAKE_URL}/ok` });
      const editor = await openAtEnd('parts.py', 'def parts(a, b):\n    ');
      const got = await provided(editor, 'a suggestion to accept in parts');
      assert.strictEqual(got.items[0].insertText, '    return a + b');
      const line = () => editor.document.lineAt(1).text;
      await until(
        async () => {
          await vscode.commands.executeCommand('codefill.acceptWord');
          return line() !== '    ';
        },
        { timeoutMs: 20_000, intervalMs: 300, what: 'accepting the next word' },
      );
      const word = line();
      assert.ok('    return a + b'.startsWith(word) && word.length < '    return a + b'.length, `after a word: ${JSON.stringify(word)}`);
      assert.match(word, /^    return ?$/);
      await until(
        async () => {
          await vscode.commands.executeCommand('codefill.acceptLine');
          return line() !== word;
        },
        { timeoutMs: 20_000, intervalMs: 300, what: 'accepting the next line' },
      );
      assert.strictEqual(line(), '    return a + b');
      await closeAll();
    },
  },
  {
    name: 'stale answers: typing while the server answers never shows an answer for the old text',
    fn: async () => {
      await configure({ url: `${env.CODEFILL_TEST_FAKE_URL}/slow` });
      for (const [name, typed, expected] of [
        // typed something else: the old answer ("return a + b" after "    ") no longer fits
        ['stale.py', 'x = 1', '    x = 1return a + b'],
        // typed the start of the answer: the rest of it still fits, at the new cursor
        ['ahead.py', 'retu', '    return a + b'],
      ]) {
        const editor = await openAtEnd(name, 'def f(a, b):\n    ');
        const uri = editor.document.uri.toString();
        const unfit = [];
        // Judged the moment an answer reaches the editor, against the text as it is then.
        const sub = api.onDidProvide((p) => {
          if (p.uri !== uri) return;
          const cursor = editor.selection.active;
          for (const item of p.items) {
            const [sl, sc, el, ec] = item.range;
            const covered = editor.document.getText(new vscode.Range(sl, sc, el, ec));
            if (el !== cursor.line || ec !== cursor.character || !item.insertText.startsWith(covered)) {
              unfit.push({ item, line: editor.document.lineAt(cursor.line).text });
            }
          }
        });
        await eventually(api.onDidChangeState, (state) => state === 'completing', {
          poke: trigger,
          what: `${name}: a request pending`,
        });
        await editor.edit((edit) => edit.insert(editor.selection.active, typed));
        const got = await provided(editor, `${name}: a suggestion for the text as typed`);
        sub.dispose();
        assert.deepStrictEqual(unfit, []);
        assert.strictEqual(got.items[0].insertText, expected);
        assert.strictEqual(editor.document.lineAt(1).text, `    ${typed}`);
        await closeAll();
      }
    },
  },
  {
    name: 'slow server: status shows completing, then the latency',
    fn: async () => {
      await configure({ url: `${env.CODEFILL_TEST_FAKE_URL}/slow` });
      const editor = await openAtEnd('slow.py', 'def slow():\n    ');
      const states = [];
      const sub = api.onDidChangeState((s) => states.push(s));
      const got = await provided(editor, 'a slow completion');
      sub.dispose();
      assert.ok(states.includes('completing'), `states: ${states}`);
      assert.ok(got.latencyMs >= 1_400, `latency ${got.latencyMs} ms`);
      await until(() => api.state() === 'ready', { what: 'status ready' });
      assert.ok(api.lastLatencyMs() >= 1_400);
      await configure({ url: env.CODEFILL_TEST_SERVE_URL });
      await closeAll();
    },
  },
];

module.exports = { tests };
