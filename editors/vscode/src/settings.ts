// VS Code settings (and the SecretStorage key) -> the language server's settings object.
// The server takes the same keys as initializationOptions, didChangeConfiguration and
// workspace/configuration; keys it does not know it reports, so only its own are sent.
import * as vscode from 'vscode';

export const SECTION = 'codefill';
export const API_KEY_SECRET = 'codefill.apiKey';

// The server's own keys (lsp/settings.py, camelCase) that this extension exposes; the
// extension's own (enable, serverPath, ...) are never sent.
export const SERVER_KEYS = [
  'url',
  'model',
  'maxTokens',
  'temperature',
  'debounceMs',
  'timeoutMs',
  'contextTokens',
  'crossfileTokens',
  'telemetry',
] as const;

export type ServerSettings = Record<string, string | number | boolean | null>;

export function serverSettings(apiKey: string | undefined): ServerSettings {
  const config = vscode.workspace.getConfiguration(SECTION);
  const out: ServerSettings = {};
  for (const key of SERVER_KEYS) {
    const value = config.get<string | number | boolean>(key);
    if (value === undefined) continue;
    // The server reads null (not "") as "not set".
    out[key] = value === '' ? null : value;
  }
  out.apiKey = apiKey ? apiKey : null;
  return out;
}

export function affectsServer(event: vscode.ConfigurationChangeEvent): boolean {
  return SERVER_KEYS.some((key) => event.affectsConfiguration(`${SECTION}.${key}`));
}

export function affectsLaunch(event: vscode.ConfigurationChangeEvent): boolean {
  return ['serverPath', 'serverArgs'].some((key) => event.affectsConfiguration(`${SECTION}.${key}`));
}
