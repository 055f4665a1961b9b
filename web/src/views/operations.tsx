// Operations (failover, failback, resume, readiness checks, policy and share changes): the list, and one operation's
// steps as they happen, each with its message, with a link to its workflow in the Temporal Web UI.
import { useState } from 'preact/hooks';
import { api, enc, query } from '../api';
import { ErrorMessage, Facts, Loading } from '../components/common';
import { Status } from '../components/status';
import { time, words } from '../format';
import { useLiveEvents, useResource } from '../hooks';
import { OPERATION_LABELS } from '../operation-types';
import { href } from '../router';
import type { Operation, OperationStatus, Page } from '../types';

export function OperationsView() {
  const [kind, setKind] = useState('');
  const [state, setState] = useState('');
  const ops = useResource(
    () => api.get<Page<Operation>>(`/operations${query({ kind, state, limit: 100 })}`),
    [kind, state],
  );
  useLiveEvents((e) => {
    if (e.type !== 'operation') return;
    ops.setData((page) =>
      page.items.some((o) => o.id === e.data.id)
        ? { ...page, items: page.items.map((o) => (o.id === e.data.id ? e.data : o)) }
        : (!kind || e.data.kind === kind) && (!state || e.data.state === state)
          ? { ...page, items: [e.data, ...page.items] }
          : page,
    );
  });
  return (
    <section>
      <h1>Operations</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter operations">
        <label>
          Kind{' '}
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            <option value="">any</option>
            {Object.entries(OPERATION_LABELS).map(([k, label]) => (
              <option key={k} value={k}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          State{' '}
          <select value={state} onChange={(e) => setState(e.currentTarget.value)}>
            <option value="">any</option>
            {['pending', 'running', 'succeeded', 'failed', 'cancelled'].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      </form>
      <ErrorMessage error={ops.error} />
      {!ops.data && !ops.error ? <Loading what="operations" /> : null}
      {ops.data ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Created</th>
              <th scope="col">Operation</th>
              <th scope="col">File servers</th>
              <th scope="col">State</th>
              <th scope="col">Step</th>
              <th scope="col">By</th>
            </tr>
          </thead>
          <tbody>
            {ops.data.items.map((o) => {
              const current = o.steps.find((s) => s.state === 'running') ?? o.steps.find((s) => s.state === 'failed');
              return (
                <tr key={o.id} data-operation={o.id}>
                  <td>
                    <a href={href('operations', o.id)}>{time(o.createdAt)}</a>
                  </td>
                  <td>{OPERATION_LABELS[o.kind] ?? words(o.kind)}</td>
                  <td>{[o.source, o.destination].filter(Boolean).join(' → ')}</td>
                  <td>
                    <Status value={o.state} />
                  </td>
                  <td>{current ? current.name : '—'}</td>
                  <td>{o.requestedBy ?? '—'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

export function OperationView({ id }: { id: string }) {
  const op = useResource(() => api.get<OperationStatus>(`/operations/${enc(id)}`), [id], {
    reloadOn: (e) => e.type === 'operation' && e.data.id === id && !['pending', 'running'].includes(e.data.state),
  });
  useLiveEvents((e) => {
    if (e.type === 'operation' && e.data.id === id) op.setData((o) => ({ ...o, ...e.data }));
  });
  const o = op.data;
  return (
    <section>
      <p class="crumbs">
        <a href="#/operations">Operations</a> › {id}
      </p>
      <h1>
        {o ? (OPERATION_LABELS[o.kind] ?? words(o.kind)) : 'Operation'} {o ? <Status value={o.state} /> : null}
      </h1>
      <ErrorMessage error={op.error} />
      {!o && !op.error ? <Loading what="the operation" /> : null}
      {o ? (
        <>
          <Facts
            rows={[
              ['File servers', [o.source, o.destination].filter(Boolean).join(' → ') || '—'],
              ['Requested by', o.requestedBy ?? '—'],
              ['Created', time(o.createdAt)],
              ['Last change', time(o.updatedAt)],
              [
                'Workflow',
                o.workflowUrl ? <a href={o.workflowUrl}>{o.workflowId} in the Temporal Web UI</a> : o.workflowId,
              ],
              ['Workflow status (Temporal)', words(o.workflow.status.toLowerCase())],
            ]}
          />
          {o.error ? (
            <p class="error" role="alert">
              {o.error}
            </p>
          ) : null}
          {o.state === 'pending' && o.workflow.status === 'RUNNING' && o.steps.every((s) => s.state === 'pending') ? (
            <p class="notice">The operation is accepted and waits for its workflow to start its first step.</p>
          ) : null}
          <h2>Steps</h2>
          <ol class="steps">
            {o.steps.map((s) => (
              <li key={s.name} data-step={s.name} data-state={s.state}>
                <Status value={s.state} label={s.name} />
                <span class="small muted">
                  {' '}
                  {s.state === 'pending' ? 'not started' : s.startedAt ? `started ${time(s.startedAt)}` : ''}
                  {s.endedAt ? `, ended ${time(s.endedAt)}` : ''}
                </span>
                {s.detail ? <div class="step-detail">{s.detail}</div> : null}
              </li>
            ))}
          </ol>
        </>
      ) : null}
    </section>
  );
}
