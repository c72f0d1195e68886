// Entry point: starts `codefill lsp`, wires settings, status bar, commands and telemetry.
import * as vscode from 'vscode';
import { LanguageClient, MessageType, ShowMessageParams } from 'vscode-languageclient/node';
import { createClient, interceptMessages, Provided, pushSettings, reportDismissed } from './client';
import { CommandHost, registerCommands, showMenu } from './commands';
import { enabledFor } from './enablement';
import { ServerCommand, ServerNotFound } from './serverPath';
import { affectsLaunch, affectsServer, API_KEY_SECRET, SECTION, serverSettings } from './settings';
import { State, StatusBar } from './statusBar';
import { Suggestions } from './telemetry';

// What the extension-host tests (tests/vscode/suite) read; small on purpose.
export interface CodefillApi {
  started: () => Promise<void>;
  state: () => State;
  lastLatencyMs: () => number | undefined;
  server: () => ServerCommand | undefined;
  client: () => LanguageClient | undefined;
  messages: ShowMessageParams[];
  onDidProvide: vscode.Event<Provided>;
  onDidMessage: vscode.Event<ShowMessageParams>;
  onDidChangeState: vscode.Event<State>;
  secrets: vscode.SecretStorage;
}

export async function activate(context: vscode.ExtensionContext): Promise<CodefillApi> {
  const log = vscode.window.createOutputChannel('codefill', { log: true });
  const status = new StatusBar();
  const suggestions = new Suggestions();
  const provided = new vscode.EventEmitter<Provided>();
  const messaged = new vscode.EventEmitter<ShowMessageParams>();
  const messages: ShowMessageParams[] = [];
  context.subscriptions.push(log, status, provided, messaged);

  let apiKey = await context.secrets.get(API_KEY_SECRET);
  let client: LanguageClient | undefined;
  let server: ServerCommand | undefined;
  let starting: Promise<void> = Promise.resolve();

  const onMessage = (params: ShowMessageParams): void => {
    messages.push(params);
    messaged.fire(params);
    log.appendLine(`server says: ${params.message}`);
    const show =
      params.type === MessageType.Error
        ? vscode.window.showErrorMessage
        : params.type === MessageType.Warning
          ? vscode.window.showWarningMessage
          : vscode.window.showInformationMessage;
    if (params.type === MessageType.Error || params.type === MessageType.Warning) status.fail(params.message);
    // The server says each failure once; the buttons carry the fix it names.
    const actions = /api key/i.test(params.message)
      ? ['Set API Key', 'Show Log']
      : /reach|url/i.test(params.message)
        ? ['Open Settings', 'Show Log']
        : ['Show Log'];
    void show(params.message, ...actions).then((choice) => {
      if (choice === 'Set API Key') void host.setApiKey();
      if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'codefill.url');
      if (choice === 'Show Log') log.show(true);
    });
  };

  const start = async (): Promise<void> => {
    status.setBase('starting', '');
    try {
      const created = createClient({
        status,
        log,
        suggestions,
        apiKey: () => apiKey,
        onMessage,
        onProvided: (p) => provided.fire(p),
      });
      client = created.client;
      server = created.server;
      await client.start();
      interceptMessages(client, onMessage);
      status.setBase(enabledFor(vscode.window.activeTextEditor?.document) ? 'running' : 'disabled');
    } catch (err) {
      client = undefined;
      const message = err instanceof ServerNotFound ? err.message : `codefill: the language server did not start: ${err}`;
      log.error(message);
      status.setBase('stopped', message);
      // Not awaited: the message stays until the user answers; the start is over now.
      void vscode.window.showErrorMessage(message, 'Open Settings', 'Show Log').then((choice) => {
        if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'codefill.serverPath');
        if (choice === 'Show Log') log.show(true);
      });
    }
  };

  const stop = async (): Promise<void> => {
    const old = client;
    client = undefined;
    if (old) await old.stop(5_000).catch((err) => log.warn(`stopping the server: ${err}`));
  };

  const sendSettings = async (): Promise<void> => {
    status.clearFailure();
    if (client) await pushSettings(client, serverSettings(apiKey));
  };

  const host: CommandHost = {
    showLog: () => log.show(true),
    setApiKey: async () => {
      const value = await vscode.window.showInputBox({
        title: 'codefill: API key',
        prompt: 'Sent as `Authorization: Bearer KEY` to the completion server. Kept in VS Code\'s secret storage, not in settings.json.',
        password: true,
        ignoreFocusOut: true,
      });
      if (value === undefined) return;
      await context.secrets.store(API_KEY_SECRET, value.trim());
    },
    clearApiKey: () => Promise.resolve(context.secrets.delete(API_KEY_SECRET)),
    restart: async () => {
      await stop();
      starting = start();
      await starting;
    },
    dismiss: async () => {
      const shown = suggestions.take();
      await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
      if (shown && client) {
        await reportDismissed(client, shown.id).catch((err) => log.warn(`codefill.dismissed: ${err}`));
      }
    },
    menu: () => showMenu(host, status.state),
  };

  context.subscriptions.push(
    ...registerCommands(host),
    context.secrets.onDidChange(async (event) => {
      if (event.key !== API_KEY_SECRET) return;
      apiKey = await context.secrets.get(API_KEY_SECRET);
      await sendSettings();
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!event.affectsConfiguration(SECTION)) return;
      if (affectsLaunch(event)) {
        await host.restart();
        return;
      }
      if (event.affectsConfiguration(`${SECTION}.enable`) && client) {
        status.setBase(enabledFor(vscode.window.activeTextEditor?.document) ? 'running' : 'disabled');
      }
      if (affectsServer(event)) await sendSettings();
    }),
    vscode.window.onDidChangeActiveTextEditor((editor) => {
      if (client) status.setBase(enabledFor(editor?.document) ? 'running' : 'disabled');
    }),
    { dispose: () => void stop() },
  );

  starting = start();
  return {
    started: () => starting,
    state: () => status.state,
    lastLatencyMs: () => status.lastLatencyMs,
    server: () => server,
    client: () => client,
    messages,
    onDidProvide: provided.event,
    onDidMessage: messaged.event,
    onDidChangeState: status.onDidChange,
    secrets: context.secrets,
  };
}

export function deactivate(): void {
  // The client is stopped by the disposable registered in activate().
}
