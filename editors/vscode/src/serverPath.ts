// Finds how to start `codefill lsp`: the setting, the workspace's venv, PATH, then `python -m`.
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';

export interface ServerCommand {
  command: string;
  args: string[];
  // What was found where, for the log and the "not found" message.
  source: string;
}

export class ServerNotFound extends Error {
  constructor(readonly tried: string[]) {
    super(
      'codefill: the language server `codefill` was not found (tried: ' + tried.join('; ') + '). ' +
        'Install codefill (`scripts/setup.sh` in a checkout of codefill, or `pip install codefill`), ' +
        'or set `codefill.serverPath` to the `codefill` executable.',
    );
  }
}

// The language server's entry point as a module, for a Python that has codefill installed but no script on PATH.
const PYTHON_MODULES = ['codefill.commands.lsp'];

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', '.bat', ''] : [''];
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

function venvBin(folder: string, name: string): string {
  return process.platform === 'win32'
    ? path.join(folder, '.venv', 'Scripts', name + '.exe')
    : path.join(folder, '.venv', 'bin', name);
}

// Which of PYTHON_MODULES this Python can import; spawned once per start, bounded.
function importableModule(python: string): string | undefined {
  const probe =
    'import importlib.util, sys\n' +
    `for m in ${JSON.stringify(PYTHON_MODULES)}:\n` +
    '    try:\n' +
    '        if importlib.util.find_spec(m): print(m); sys.exit(0)\n' +
    '    except ImportError: pass\n' +
    'sys.exit(1)\n';
  const result = cp.spawnSync(python, ['-c', probe], { encoding: 'utf8', timeout: 10_000 });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

export function findServer(
  configured: string,
  folders: readonly string[] = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
): ServerCommand {
  const tried: string[] = [];
  if (configured.trim()) {
    const file = configured.trim().replace(/^~(?=$|\/)/, process.env.HOME ?? '~');
    const resolved = path.isAbsolute(file) ? file : onPath(file) ?? file;
    if (isExecutable(resolved)) return { command: resolved, args: ['lsp'], source: 'codefill.serverPath' };
    // A setting that points nowhere is a mistake to report, not to route around.
    throw new ServerNotFound([`codefill.serverPath = ${configured} (not an executable file)`]);
  }
  for (const folder of folders) {
    const candidate = venvBin(folder, 'codefill');
    if (isExecutable(candidate)) return { command: candidate, args: ['lsp'], source: 'workspace .venv' };
    tried.push(candidate);
  }
  const fromPath = onPath('codefill');
  if (fromPath) return { command: fromPath, args: ['lsp'], source: 'PATH' };
  tried.push('`codefill` on PATH');
  const pythons = [
    ...folders.map((f) => venvBin(f, 'python')),
    ...['python3', 'python'].map((p) => onPath(p)).filter((p): p is string => !!p),
  ];
  for (const python of pythons) {
    if (!isExecutable(python)) continue;
    const module = importableModule(python);
    if (module) return { command: python, args: ['-m', module], source: `${python} -m ${module}` };
    tried.push(`${python} -m ${PYTHON_MODULES.join('|')}`);
  }
  throw new ServerNotFound(tried);
}
