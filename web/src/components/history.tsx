// A share's recent replication runs as a row of marks (seed fig. 22), oldest to newest: each mark has a symbol and
// a tooltip besides its colour, and links to the job.
import { time } from '../format';
import { href } from '../router';
import type { JobSummary } from '../types';

const MARK: Record<string, string> = { succeeded: '✓', running: '▶', pending: '…', failed: '✗', cancelled: '⊘' };

export function History({ jobs, label }: { jobs: JobSummary[]; label: string }) {
  if (!jobs.length) return <span class="muted">no runs yet</span>;
  const ordered = [...jobs].reverse();
  return (
    <ol class="history" aria-label={label}>
      {ordered.map((j) => (
        <li key={j.id}>
          <a
            href={href('jobs', j.id)}
            class={`mark tone-${j.state}`}
            title={`${j.state} · started ${time(j.startedAt)}`}
            aria-label={`${j.state}, started ${time(j.startedAt)}`}
          >
            {MARK[j.state] ?? '•'}
          </a>
        </li>
      ))}
    </ol>
  );
}
