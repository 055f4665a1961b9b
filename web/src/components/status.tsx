// A state shown in words with a symbol and a colour class: colour is never the only signal.
import { words } from '../format';

const LOOK: Record<string, { symbol: string; tone: string }> = {
  active: { symbol: '●', tone: 'ok' },
  healthy: { symbol: '✓', tone: 'ok' },
  succeeded: { symbol: '✓', tone: 'ok' },
  compliant: { symbol: '✓', tone: 'ok' },
  standby: { symbol: '◐', tone: 'muted' },
  pending: { symbol: '…', tone: 'info' },
  creating: { symbol: '…', tone: 'info' },
  deleting: { symbol: '…', tone: 'info' },
  running: { symbol: '▶', tone: 'info' },
  awaiting_approval: { symbol: '‖', tone: 'warn' },
  scheduled: { symbol: '◔', tone: 'info' },
  paused: { symbol: '‖', tone: 'muted' },
  degraded: { symbol: '!', tone: 'warn' },
  fenced: { symbol: '⛔', tone: 'warn' },
  disabled: { symbol: '○', tone: 'muted' },
  skipped: { symbol: '–', tone: 'muted' },
  compensated: { symbol: '↺', tone: 'warn' },
  cancelled: { symbol: '⊘', tone: 'muted' },
  unknown: { symbol: '?', tone: 'muted' },
  failed: { symbol: '✗', tone: 'bad' },
  violated: { symbol: '✗', tone: 'bad' },
  down: { symbol: '✗', tone: 'bad' },
};

export function Status({ value, label }: { value: string; label?: string }) {
  const look = LOOK[value] ?? { symbol: '•', tone: 'muted' };
  return (
    <span class={`status tone-${look.tone}`} data-status={value}>
      <span aria-hidden="true">{look.symbol}</span> {label ?? words(value)}
    </span>
  );
}

export function Compliance({ value }: { value: boolean | null }) {
  if (value === null) return <Status value="unknown" label="not yet known" />;
  return value ? <Status value="compliant" label="within RPO" /> : <Status value="violated" label="RPO missed" />;
}
