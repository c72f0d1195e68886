// Enabled globally and per language: `codefill.enable` is language-overridable, so
// "disable for this language" is VS Code's own `"[python]": {"codefill.enable": false}`.
import * as vscode from 'vscode';
import { SECTION } from './settings';

export function enabledFor(document: vscode.TextDocument | undefined): boolean {
  const config = vscode.workspace.getConfiguration(SECTION, document ? { languageId: document.languageId } : undefined);
  return config.get<boolean>('enable', true);
}

export function enabledGlobally(): boolean {
  return vscode.workspace.getConfiguration(SECTION).get<boolean>('enable', true);
}

export async function setGlobal(enabled: boolean): Promise<void> {
  await vscode.workspace.getConfiguration(SECTION).update('enable', enabled, vscode.ConfigurationTarget.Global);
}

export async function setForLanguage(languageId: string, enabled: boolean): Promise<void> {
  await vscode.workspace
    .getConfiguration(SECTION, { languageId })
    .update('enable', enabled, vscode.ConfigurationTarget.Global, true);
}
