// One status bar item: what the completion server is doing, and the last latency.
import * as vscode from 'vscode';

export type State = 'starting' | 'ready' | 'completing' | 'error' | 'disabled' | 'stopped';
type Base = 'starting' | 'running' | 'disabled' | 'stopped';

const ICONS: Record<State, string> = {
  starting: '$(loading~spin)',
  ready: '$(sparkle)',
  completing: '$(loading~spin)',
  error: '$(error)',
  disabled: '$(circle-slash)',
  stopped: '$(debug-disconnect)',
};

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('codefill.status', vscode.StatusBarAlignment.Right, 100);
  private base: Base = 'starting';
  private pending = 0;
  // The server's last error message: it stays until a completion arrives, because the
  // server tells a failure once, not at each of the requests that fail the same way.
  private failure: string | undefined;
  lastLatencyMs: number | undefined;
  private readonly changed = new vscode.EventEmitter<State>();
  readonly onDidChange = this.changed.event;

  constructor() {
    this.item.name = 'codefill';
    this.item.command = 'codefill.menu';
    this.render();
    this.item.show();
  }

  get state(): State {
    if (this.base !== 'running') return this.base;
    if (this.pending > 0) return 'completing';
    return this.failure ? 'error' : 'ready';
  }

  get detail(): string {
    return this.failure ?? '';
  }

  setBase(base: Base, failure?: string): void {
    this.base = base;
    if (base !== 'running') this.pending = 0;
    if (failure !== undefined) this.failure = failure;
    this.render();
  }

  fail(message: string): void {
    this.failure = message;
    this.render();
  }

  clearFailure(): void {
    this.failure = undefined;
    this.render();
  }

  // Requests overlap (a newer keystroke before the older answer is in): "completing"
  // lasts until the last of them is over.
  begin(): void {
    this.pending++;
    this.render();
  }

  end(latencyMs: number | undefined): void {
    this.pending = Math.max(0, this.pending - 1);
    if (latencyMs !== undefined) {
      this.lastLatencyMs = Math.round(latencyMs);
      this.failure = undefined;
    }
    this.render();
  }

  private render(): void {
    const state = this.state;
    const latency = this.lastLatencyMs !== undefined ? ` ${this.lastLatencyMs} ms` : '';
    this.item.text = `${ICONS[state]} codefill${state === 'ready' ? latency : ''}`;
    const label = `codefill: ${state}${latency ? `, last completion${latency}` : ''}`;
    // The label names the state for screen readers, and for the UI tests to wait on.
    this.item.accessibilityInformation = { label, role: 'button' };
    this.item.tooltip = `${label}${this.failure ? `\n${this.failure}` : ''}\nClick for the codefill menu.`;
    this.item.backgroundColor = state === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.changed.fire(state);
  }

  dispose(): void {
    this.item.dispose();
    this.changed.dispose();
  }
}
