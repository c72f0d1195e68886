// The language client for `codefill lsp`: settings in, completions out, state to the status bar.
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  MessageType,
  ServerOptions,
  ShowMessageNotification,
  ShowMessageParams,
} from 'vscode-languageclient/node';
import { enabledFor } from './enablement';
import { findServer, ServerCommand } from './serverPath';
import { SECTION, serverSettings, ServerSettings } from './settings';
import { StatusBar } from './statusBar';
import { ACCEPTED, Suggestions } from './telemetry';

export interface Provided {
  uri: string;
  line: number;
  character: number;
  items: { insertText: string; range?: [number, number, number, number] }[];
  latencyMs: number;
}

export interface ClientHooks {
  status: StatusBar;
  log: vscode.LogOutputChannel;
  suggestions: Suggestions;
  apiKey: () => string | undefined;
  onMessage: (params: ShowMessageParams) => void;
  onProvided: (provided: Provided) => void;
}

function completionItemsEnabled(): boolean {
  return vscode.workspace.getConfiguration(SECTION).get<boolean>('completionItems', false);
}

export function createClient(hooks: ClientHooks): { client: LanguageClient; server: ServerCommand } {
  const config = vscode.workspace.getConfiguration(SECTION);
  const server = findServer(config.get<string>('serverPath', ''));
  const args = [...server.args, ...config.get<string[]>('serverArgs', [])];
  hooks.log.info(`starting ${server.command} ${args.join(' ')} (found: ${server.source})`);
  const serverOptions: ServerOptions = {
    // No `transport`: the client would add `--stdio`, which `codefill lsp` does not take (stdio is its default).
    run: { command: server.command, args },
    debug: { command: server.command, args: [...args, '--log-level', 'debug'] },
  };
  const settings = (): ServerSettings => serverSettings(hooks.apiKey());
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
    outputChannel: hooks.log,
    initializationOptions: settings(),
    // The server's pull (workspace/configuration, section "codefill") gets what
    // initializationOptions got, the SecretStorage key included, not the raw VS Code section.
    middleware: {
      workspace: {
        configuration: (params) => params.items.map((item) => (item.section === SECTION ? settings() : null)),
      },
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        if (!enabledFor(document)) return null;
        const started = Date.now();
        hooks.status.begin();
        let latency: number | undefined;
        try {
          const result = await next(document, position, context, token);
          const items = Array.isArray(result) ? result : result?.items ?? [];
          if (items.length) {
            latency = Date.now() - started;
            hooks.suggestions.remember(document, items);
            hooks.onProvided({
              uri: document.uri.toString(),
              line: position.line,
              character: position.character,
              items: items.map((item) => ({
                insertText: typeof item.insertText === 'string' ? item.insertText : item.insertText.value,
                range: item.range && [
                  item.range.start.line,
                  item.range.start.character,
                  item.range.end.line,
                  item.range.end.character,
                ],
              })),
              latencyMs: latency,
            });
          }
          return result;
        } finally {
          hooks.status.end(latency);
        }
      },
      provideCompletionItem: (document, position, context, token, next) => {
        if (!enabledFor(document) || !completionItemsEnabled()) return null;
        return next(document, position, context, token);
      },
      executeCommand: (command, args, next) => {
        if (command === ACCEPTED) hooks.suggestions.forget();
        return next(command, args);
      },
    },
  };
  const client = new LanguageClient('codefill', 'codefill', serverOptions, clientOptions);
  return { client, server };
}

// After start: the server's one-time messages (unreachable, key refused) go through the
// extension, which adds the fix as buttons and turns the status bar red.
export function interceptMessages(client: LanguageClient, onMessage: (params: ShowMessageParams) => void): void {
  client.onNotification(ShowMessageNotification.type, onMessage);
}

export async function pushSettings(client: LanguageClient, settings: ServerSettings): Promise<void> {
  if (!client.isRunning()) return;
  await client.sendNotification(DidChangeConfigurationNotification.type, { settings: { [SECTION]: settings } });
}

export async function reportDismissed(client: LanguageClient, id: string): Promise<unknown> {
  if (!client.isRunning()) return false;
  return client.sendRequest(ExecuteCommandRequest.type, { command: 'codefill.dismissed', arguments: [id] });
}

export { MessageType };
