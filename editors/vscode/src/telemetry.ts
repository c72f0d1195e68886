// Accept/dismiss reports through the server's own commands (lsp/features/telemetry_commands.py).
// Acceptance needs nothing here: each item carries `codefill.accepted` as its command, which
// VS Code runs on accept and the language client forwards. Dismissal has no LSP event, so
// Escape on a shown suggestion sends `codefill.dismissed` with the id of what was shown.
import * as vscode from 'vscode';

export const ACCEPTED = 'codefill.accepted';
export const DISMISSED = 'codefill.dismissed';
const SHOWN_CONTEXT = 'codefill.suggestionShown';

export interface Shown {
  id: string;
  uri: string;
  text: string;
}

export class Suggestions {
  shown: Shown | undefined;

  // The ids of the items the server answered (its `codefill.accepted` command's argument).
  remember(document: vscode.TextDocument, items: readonly vscode.InlineCompletionItem[]): void {
    const first = items[0];
    const id = first?.command?.arguments?.[0];
    if (typeof id === 'string' && id) {
      this.shown = { id, uri: document.uri.toString(), text: String(first.insertText) };
      void vscode.commands.executeCommand('setContext', SHOWN_CONTEXT, true);
    }
  }

  // The id to report as dismissed, once: a suggestion is dismissed or accepted, never both.
  take(): Shown | undefined {
    const shown = this.shown;
    this.forget();
    return shown;
  }

  forget(): void {
    if (this.shown) void vscode.commands.executeCommand('setContext', SHOWN_CONTEXT, false);
    this.shown = undefined;
  }
}
