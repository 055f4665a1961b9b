// How figures read in a terminal: bytes in binary units, durations and ages in words, times in the local time zone
// in a fixed, sortable form (2026-12-24 22:00:05), states as words.

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function rate(bps: number | null | undefined): string {
  return bps === null || bps === undefined ? '-' : `${bytes(bps)}/s`;
}

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '-';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.floor(seconds % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days ${h % 24} h`;
}

const pad = (n: number) => String(n).padStart(2, '0');

export function time(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  return `${duration(Math.max(0, (now - new Date(iso).getTime()) / 1000))} ago`;
}

/** Seconds from `from` to `to` (or now). */
export function elapsed(from: string | null | undefined, to?: string | null): number | null {
  if (!from) return null;
  return Math.max(0, ((to ? new Date(to).getTime() : Date.now()) - new Date(from).getTime()) / 1000);
}

export function words(s: string): string {
  return s.replace(/_/g, ' ');
}

/** A marker before a step or check, readable without colour. */
export function mark(state: string): string {
  switch (state) {
    case 'succeeded':
    case 'ok':
      return '[ok]';
    case 'failed':
      return '[FAILED]';
    case 'running':
      return '[..]';
    case 'cancelled':
    case 'compensated':
      return '[undone]';
    case 'skipped':
      return '[skip]';
    default:
      return '[  ]';
  }
}
