// The extension's commands. Accepting is VS Code's own inline-suggest commands under our
// names, so keybindings and the menu can offer them next to the rest.
import * as vscode from 'vscode';
import * as enablement from './enablement';

export interface CommandHost {
  showLog(): void;
  setApiKey(): Promise<void>;
  clearApiKey(): Promise<void>;
  restart(): Promise<void>;
  dismiss(): Promise<void>;
  menu(): Promise<void>;
}

export function registerCommands(host: CommandHost): vscode.Disposable[] {
  const language = (): string | undefined => vscode.window.activeTextEditor?.document.languageId;
  const forLanguage = async (enabled: boolean): Promise<void> => {
    const id = language();
    if (!id) {
      void vscode.window.showInformationMessage('codefill: open a file first; the setting is per language.');
      return;
    }
    await enablement.setForLanguage(id, enabled);
    void vscode.window.showInformationMessage(`codefill: ${enabled ? 'enabled' : 'disabled'} for ${id}.`);
  };
  const commands: Record<string, (...args: unknown[]) => unknown> = {
    'codefill.enable': () => enablement.setGlobal(true),
    'codefill.disable': () => enablement.setGlobal(false),
    'codefill.toggle': () => enablement.setGlobal(!enablement.enabledGlobally()),
    'codefill.enableLanguage': () => forLanguage(true),
    'codefill.disableLanguage': () => forLanguage(false),
    // "Trigger Inline Suggestion" asks every inline provider; an explicit trigger is
    // `invoked` for the server too, which then skips its automatic-only heuristics.
    'codefill.trigger': () => vscode.commands.executeCommand('editor.action.inlineSuggest.trigger'),
    'codefill.acceptAll': () => vscode.commands.executeCommand('editor.action.inlineSuggest.commit'),
    'codefill.acceptWord': () => vscode.commands.executeCommand('editor.action.inlineSuggest.acceptNextWord'),
    'codefill.acceptLine': () => vscode.commands.executeCommand('editor.action.inlineSuggest.acceptNextLine'),
    'codefill.dismiss': () => host.dismiss(),
    'codefill.showLog': () => host.showLog(),
    'codefill.setApiKey': () => host.setApiKey(),
    'codefill.clearApiKey': () => host.clearApiKey(),
    'codefill.restart': () => host.restart(),
    'codefill.menu': () => host.menu(),
  };
  return Object.entries(commands).map(([id, run]) => vscode.commands.registerCommand(id, run));
}

export async function showMenu(host: CommandHost, state: string): Promise<void> {
  const language = vscode.window.activeTextEditor?.document.languageId;
  const enabled = enablement.enabledGlobally();
  const langEnabled = enablement.enabledFor(vscode.window.activeTextEditor?.document);
  const picks: (vscode.QuickPickItem & { command: string })[] = [
    { label: '$(zap) Complete now', command: 'codefill.trigger' },
    enabled
      ? { label: '$(circle-slash) Disable completions', command: 'codefill.disable' }
      : { label: '$(check) Enable completions', command: 'codefill.enable' },
  ];
  if (language) {
    picks.push(
      langEnabled
        ? { label: `$(circle-slash) Disable for ${language}`, command: 'codefill.disableLanguage' }
        : { label: `$(check) Enable for ${language}`, command: 'codefill.enableLanguage' },
    );
  }
  picks.push(
    { label: '$(key) Set API key', command: 'codefill.setApiKey' },
    { label: '$(output) Show log', command: 'codefill.showLog' },
    { label: '$(gear) Open settings', command: 'workbench.action.openSettings' },
    { label: '$(debug-restart) Restart language server', command: 'codefill.restart' },
  );
  const pick = await vscode.window.showQuickPick(picks, { title: `codefill (${state})` });
  if (!pick) return;
  if (pick.command === 'workbench.action.openSettings') {
    await vscode.commands.executeCommand(pick.command, '@ext:codefill.codefill');
  } else {
    await vscode.commands.executeCommand(pick.command);
  }
}
