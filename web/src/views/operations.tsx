// Operations (failover, failback, resume, readiness checks, policy and share changes): the list, and one operation's
// steps as they happen, each with its message, with a link to its workflow in the Temporal Web UI; its final delta's
// jobs with live progress; what it did (the snapshot sets used and their age, the runs waited for or cancelled, the
// open files cut off, the safety and pre-failover snapshots, the readiness checks it overrode); and Cancel (operator)
// and Approve (a second admin) while its state allows them.
import { useState } from 'preact/hooks';
import { allows, api, enc, query } from '../api';
import { ErrorMessage, Facts, Loading, Progress } from '../components/common';
import { Status } from '../components/status';
import { bytes, duration, time, words } from '../format';
import { useLiveEvents, useResource } from '../hooks';
import {
  ACTIVE_STATES,
  OPERATION_LABELS,
  OPERATION_STATES,
  type OperationJob,
  type OperationResult,
} from '../operation-types';
import { href } from '../router';
import type { Operation, OperationStatus, Page, Whoami } from '../types';

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
            {OPERATION_STATES.map((s) => (
              <option key={s} value={s}>
                {words(s)}
              </option>
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
                <tr key={o.id} data-operation={o.id} data-state={o.state}>
                  <td>
                    <a href={href('operations', o.id)}>{time(o.createdAt)}</a>
                  </td>
                  <td>{OPERATION_LABELS[o.kind] ?? words(o.kind)}</td>
                  <td>{[o.source, o.destination].filter(Boolean).join(' → ') || o.fileServers.join(', ')}</td>
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

export function OperationView({ id, me }: { id: string; me: Whoami }) {
  const op = useResource(() => api.get<OperationStatus>(`/operations/${enc(id)}`), [id], {
    // The workflow's own status is read from Temporal by this call only: read it again once the operation ended.
    reloadOn: (e) => e.type === 'operation' && e.data.id === id && !ACTIVE_STATES.includes(e.data.state),
  });
  useLiveEvents((e) => {
    if (e.type === 'operation' && e.data.id === id) op.setData((o) => ({ ...o, ...e.data }));
    if (e.type === 'job' && e.data.operationId === id) {
      const j = e.data;
      const live: OperationJob = {
        id: j.id,
        share: j.share,
        state: j.state,
        percent: j.percent,
        bytesSynced: j.bytesSynced,
        bytesTotal: j.bytesTotal ?? 0,
      };
      op.setData((o) => ({
        ...o,
        jobs: o.jobs.some((x) => x.id === j.id)
          ? o.jobs.map((x) => (x.id === j.id ? live : x))
          : [...o.jobs, live].sort((a, b) => a.share.localeCompare(b.share)),
      }));
    }
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
              ...(o.fileServers.length > 2 || (!o.destination && o.fileServers.length)
                ? ([['Acts on', o.fileServers.join(', ')]] as [string, string][])
                : []),
              ['Requested by', o.requestedBy ?? '—'],
              ['Created', time(o.createdAt)],
              ...(o.startAt ? ([['Start at', time(o.startAt)]] as [string, string][]) : []),
              ...(o.requireApproval
                ? ([
                    [
                      'Approval',
                      o.approvedBy
                        ? `approved by ${o.approvedBy} ${time(o.approvedAt)}`
                        : 'a second admin must approve',
                    ],
                  ] as [string, string][])
                : []),
              ['Started', time(o.startedAt)],
              [
                'Ended',
                o.endedAt
                  ? `${time(o.endedAt)}${o.startedAt ? ` (took ${duration(secondsBetween(o.startedAt, o.endedAt))})` : ''}`
                  : '—',
              ],
              [
                'Workflow',
                o.workflowUrl ? <a href={o.workflowUrl}>{o.workflowId} in the Temporal Web UI</a> : o.workflowId,
              ],
              ['Workflow status (Temporal)', words(o.workflow.status.toLowerCase())],
            ]}
          />
          <Waiting o={o} me={me} />
          <Controls o={o} me={me} onChanged={(next) => op.setData((cur) => ({ ...cur, ...next }))} />
          {o.error ? (
            <p class="error" role="alert">
              {o.error}
            </p>
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
          {o.jobs.length ? <Jobs jobs={o.jobs} /> : null}
          {o.result && Object.keys(o.result).length ? <Result result={o.result} /> : null}
        </>
      ) : null}
    </section>
  );
}

function secondsBetween(from: string, to: string): number {
  return Math.max(0, (new Date(to).getTime() - new Date(from).getTime()) / 1000);
}

/** Why an operation has not started yet, in words. */
function Waiting({ o, me }: { o: OperationStatus; me: Whoami }) {
  if (o.state === 'awaiting_approval') {
    return (
      <p class="notice" data-waiting="approval">
        Waits for a second admin to approve it (or for someone to cancel it); nothing has changed yet.
        {o.requestedBy === me.name ? ' You requested it, so another admin must approve it.' : ''}
      </p>
    );
  }
  if (o.state === 'scheduled') {
    return (
      <p class="notice" data-waiting="start-time">
        Scheduled to start {time(o.startAt)}; it can be cancelled until then. Nothing has changed yet.
      </p>
    );
  }
  if (o.state === 'pending' && o.workflow.status === 'RUNNING' && o.steps.every((s) => s.state === 'pending')) {
    return <p class="notice">The operation is accepted and waits for its workflow to start its first step.</p>;
  }
  return null;
}

/** Cancel (operator, while the operation holds its file servers) and Approve (an admin other than the requester). */
function Controls({ o, me, onChanged }: { o: OperationStatus; me: Whoami; onChanged: (o: Operation) => void }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const canCancel = allows(me.role, 'operator') && ACTIVE_STATES.includes(o.state);
  const canApprove = allows(me.role, 'admin') && o.state === 'awaiting_approval' && o.requestedBy !== me.name;
  if (!canCancel && !canApprove && !error) return null;
  const act = async (what: 'cancel' | 'approve') => {
    setBusy(true);
    setError(null);
    try {
      onChanged(await api.post<Operation>(`/operations/${enc(o.id)}/${what}`));
      setConfirming(false);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="buttons left" data-controls>
      {canApprove ? (
        <button type="button" disabled={busy} onClick={() => void act('approve')}>
          Approve
        </button>
      ) : null}
      {canCancel && !confirming ? (
        <button type="button" class="secondary" disabled={busy} onClick={() => setConfirming(true)}>
          Cancel operation
        </button>
      ) : null}
      {confirming ? (
        <div class="notice" role="group" aria-label="Confirm the cancellation">
          <p>
            {o.state === 'running'
              ? 'The workflow undoes what it did so far and ends cancelled, unless it has passed its point of no return (the new side made read-write): then it finishes.'
              : 'Nothing has changed yet: the operation simply ends cancelled.'}
          </p>
          <button type="button" class="danger small" disabled={busy} onClick={() => void act('cancel')}>
            Yes, cancel it
          </button>{' '}
          <button type="button" class="secondary small" onClick={() => setConfirming(false)}>
            No, let it go on
          </button>
        </div>
      ) : null}
      <ErrorMessage error={error} prefix="The API refused it" />
    </div>
  );
}

function Jobs({ jobs }: { jobs: OperationJob[] }) {
  return (
    <>
      <h2>Final delta</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Share</th>
            <th scope="col">State</th>
            <th scope="col">Progress</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((j) => (
            <tr key={j.id} data-job={j.id} data-share={j.share} data-state={j.state}>
              <td>
                <a href={href('jobs', j.id)}>{j.share}</a>
              </td>
              <td>
                <Status value={j.state} />
              </td>
              <td>
                <Progress
                  percent={j.percent}
                  synced={j.bytesSynced}
                  total={j.bytesTotal}
                  label={`Final delta of ${j.share}`}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** What the operation recorded while it ran; each part only when present. */
function Result({ result: r }: { result: OperationResult }) {
  const known = new Set([
    'readiness',
    'overridden',
    'runs',
    'openFiles',
    'switchover',
    'recoveryPoints',
    'dataLossWindowSeconds',
    'unplanned',
    'common',
    'safety',
    'resume',
  ]);
  const other = Object.entries(r).filter(([k]) => !known.has(k));
  const overridden = r.unplanned?.overridden ?? r.overridden ?? [];
  return (
    <section aria-labelledby="result-title" data-result>
      <h2 id="result-title">What it did</h2>
      {r.unplanned || r.recoveryPoints ? (
        <table data-result-part="recovery-points">
          <caption>
            Snapshot sets the destination was brought up from: their age is the data-loss window
            {r.dataLossWindowSeconds !== undefined ? ` (at most ${duration(r.dataLossWindowSeconds)})` : ''}
          </caption>
          <thead>
            <tr>
              <th scope="col">Share</th>
              <th scope="col">Snapshot set</th>
              <th scope="col">Taken</th>
              <th scope="col">Data-loss window</th>
            </tr>
          </thead>
          <tbody>
            {(
              r.unplanned?.shares.map((s) => ({
                share: s.share,
                setId: s.snapshotSetId,
                createdAt: s.createdAt,
                age: s.dataLossWindowSeconds,
              })) ??
              r.recoveryPoints!.map((p) => ({
                share: p.share,
                setId: p.setId,
                createdAt: p.createdAt,
                age: p.ageSeconds,
              }))
            ).map((s) => (
              <tr key={s.share}>
                <td>{s.share}</td>
                <td>
                  <code>{s.setId}</code>
                </td>
                <td>{time(s.createdAt)}</td>
                <td>{duration(s.age)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {r.unplanned?.sourceUnreachable.length ? (
        <p class="notice">
          Not reached during the fence (the fence workflow sets them read-only as soon as they answer):{' '}
          {r.unplanned.sourceUnreachable.join(', ')}
        </p>
      ) : null}
      {overridden.length ? (
        <div data-result-part="overridden">
          <h3>Readiness checks overridden (confirmDataLoss)</h3>
          <ul>
            {overridden.map((x) => (
              <li key={x}>{x}</li>
            ))}
          </ul>
        </div>
      ) : null}
      {r.runs ? (
        <p data-result-part="runs">
          <strong>Replication runs:</strong>{' '}
          {r.runs.waitedFor.length
            ? `waited for ${r.runs.waitedFor.join(', ')}`
            : r.runs.cancelled.length
              ? `cancelled ${r.runs.cancelled.join(', ')}`
              : 'none was running'}
        </p>
      ) : null}
      {r.openFiles ? (
        <div data-result-part="open-files">
          <h3>Open files cut off</h3>
          {r.openFiles.some((s) => s.openFiles.length || s.error) ? (
            <ul>
              {r.openFiles.map((s) =>
                s.error ? (
                  <li key={s.share}>
                    {s.share}: could not be listed ({s.error})
                  </li>
                ) : (
                  s.openFiles.map((f) => (
                    <li key={`${s.share}/${f.path}/${f.client}`}>
                      {s.share}/{f.path}: {f.user} at {f.client}
                    </li>
                  ))
                ),
              )}
            </ul>
          ) : (
            <p>No client had a file open.</p>
          )}
        </div>
      ) : null}
      {r.switchover ? (
        <table data-result-part="switchover">
          <caption>Final delta and the snapshot kept of what each share held when it took over</caption>
          <thead>
            <tr>
              <th scope="col">Share</th>
              <th scope="col">Final snapshot set</th>
              <th scope="col">Bytes sent</th>
              <th scope="col">Pre-failover snapshot</th>
            </tr>
          </thead>
          <tbody>
            {r.switchover.shares.map((s) => (
              <tr key={`${s.policy}/${s.share}`}>
                <td>{s.share}</td>
                <td>
                  <code>{s.finalSet}</code>
                </td>
                <td>{bytes(s.bytes)}</td>
                <td>
                  <code>{s.preFailoverSet || '—'}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {r.resume || r.safety ? (
        <table data-result-part="safety">
          <caption>
            {r.resume ? `Primary: the ${r.resume.primary}. ` : ''}Where replication resumed from, and the safety
            snapshots kept of the other side’s divergent writes (never pruned)
          </caption>
          <thead>
            <tr>
              <th scope="col">Share</th>
              <th scope="col">Last common set</th>
              <th scope="col">Safety snapshot</th>
            </tr>
          </thead>
          <tbody>
            {(
              r.resume?.shares.map((s) => ({ share: s.share, common: s.commonSet, safety: s.safetySet })) ??
              r.safety!.map((s) => ({
                share: s.share,
                common: r.common?.find((c) => c.share === s.share)?.setId ?? '—',
                safety: `${s.setId} on ${s.fileServer}`,
              }))
            ).map((s) => (
              <tr key={s.share}>
                <td>{s.share}</td>
                <td>
                  <code>{s.common}</code>
                </td>
                <td>
                  <code>{s.safety}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {(r.switchover ?? r.unplanned ?? r.resume)?.redirect ? (
        <p data-result-part="redirect">
          <strong>Clients:</strong> {(r.switchover ?? r.unplanned ?? r.resume)!.redirect}
        </p>
      ) : null}
      {r.readiness ? (
        <details data-result-part="readiness" open={!r.switchover && !r.unplanned && !r.resume}>
          <summary>
            Readiness when it started:{' '}
            <Status value={r.readiness.ok ? 'succeeded' : 'failed'} label={r.readiness.ok ? 'ready' : 'not ready'} />
          </summary>
          <ul>
            {r.readiness.checks.map((c) => (
              <li key={c.name}>
                <Status value={c.ok ? 'succeeded' : 'failed'} label={c.name} />: {c.message}
              </li>
            ))}
          </ul>
        </details>
      ) : null}
      {other.length ? (
        <details>
          <summary>Everything else it recorded</summary>
          <pre>{JSON.stringify(Object.fromEntries(other), null, 2)}</pre>
        </details>
      ) : null}
    </section>
  );
}
