// The confirmation of a DR operation: what it does, the dry-run plan the API computes for it (steps, shares with
// their recovery points, what moves in DNS and SPNs, readiness, the data-loss window, an estimate, warnings: whatever
// the plan holds), and the operator types the file server's name to go ahead. When the plan cannot be had, the API's
// reason is shown in words and the operation can still be confirmed.
import { useEffect, useState } from 'preact/hooks';
import { api, describeError, type ApiError } from '../api';
import { duration, time } from '../format';
import {
  OPERATION_LABELS,
  OPERATION_PATHS,
  OPERATION_PURPOSE,
  operationRequest,
  type OperationKind,
  type OperationPlan,
  type Primary,
} from '../operation-types';
import type { Accepted } from '../types';
import { Dialog, ErrorMessage } from './common';
import { Status } from './status';

export function OperationDialog({
  kind,
  source,
  destination,
  onClose,
  onStarted,
}: {
  kind: OperationKind;
  source: string;
  destination: string;
  onClose: () => void;
  onStarted: (operationId: string) => void;
}) {
  const [primary, setPrimary] = useState<Primary>('destination');
  const [plan, setPlan] = useState<OperationPlan | null>(null);
  const [planError, setPlanError] = useState<unknown>(null);
  const [planLoading, setPlanLoading] = useState(true);
  const [typed, setTyped] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const body = operationRequest(kind, source, destination, primary);

  useEffect(() => {
    let stale = false;
    setPlanLoading(true);
    setPlan(null);
    setPlanError(null);
    api.post<{ plan: OperationPlan }>(`${OPERATION_PATHS[kind]}?dryRun=true`, body).then(
      (r) => !stale && (setPlan(r.plan ?? {}), setPlanLoading(false)),
      (err: unknown) => !stale && (setPlanError(err), setPlanLoading(false)),
    );
    return () => {
      stale = true;
    };
  }, [kind, source, destination, primary]);

  const confirm = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api.post<Accepted>(OPERATION_PATHS[kind], body);
      onStarted(r.operationId);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={`${OPERATION_LABELS[kind]}: ${source} → ${destination}`} onClose={onClose}>
      <p>{OPERATION_PURPOSE[kind]}</p>
      {kind === 'resume_replication' ? (
        <fieldset class="choice">
          <legend>Primary file server (its data wins; the other side becomes its replica)</legend>
          {(['destination', 'source'] as Primary[]).map((p) => (
            <label key={p}>
              <input type="radio" name="primary" value={p} checked={primary === p} onChange={() => setPrimary(p)} />{' '}
              {p === 'source' ? source : destination} (
              {p === 'source' ? 'the original source' : 'active since the failover'})
            </label>
          ))}
        </fieldset>
      ) : null}
      <section class="plan" aria-labelledby="plan-title" aria-busy={planLoading}>
        <h3 id="plan-title">What will happen</h3>
        {planLoading ? <p class="muted">Asking the API for the plan…</p> : null}
        {planError ? (
          <p class="notice" role="status" data-plan="unavailable">
            The plan could not be computed, so it cannot be shown: {describeError(planError)}.
            {(planError as ApiError).status === 400 ? ' This API version may not offer dry runs yet.' : ''} You can
            still go ahead.
          </p>
        ) : null}
        {plan ? <Plan plan={plan} kind={kind} /> : null}
      </section>
      <form onSubmit={(e) => void confirm(e)}>
        <label for="confirm-name">
          Type <strong>{source}</strong> to confirm
        </label>
        <input
          id="confirm-name"
          autocomplete="off"
          spellcheck={false}
          value={typed}
          onInput={(e) => setTyped(e.currentTarget.value)}
        />
        <ErrorMessage error={error} prefix="The API refused it" />
        <div class="buttons">
          <button type="button" class="secondary" onClick={onClose}>
            Cancel
          </button>
          <button
            type="submit"
            class={kind === 'unplanned_failover' ? 'danger' : ''}
            disabled={busy || typed !== source}
          >
            {busy ? 'Starting…' : `Start ${OPERATION_LABELS[kind]!.toLowerCase()}`}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function Plan({ plan, kind }: { plan: OperationPlan; kind: OperationKind }) {
  return (
    <div>
      {plan.dataLossWindowSeconds !== undefined ? (
        <p class={plan.dataLossWindowSeconds ? 'warning' : ''}>
          <strong>Data-loss window:</strong>{' '}
          {plan.dataLossWindowSeconds === null
            ? 'unknown (no complete snapshot set yet)'
            : plan.dataLossWindowSeconds === 0
              ? 'none'
              : `changes of the last ${duration(plan.dataLossWindowSeconds)} are lost`}
        </p>
      ) : kind === 'unplanned_failover' ? (
        <p class="warning">Changes made on the source after its last complete snapshot sets are lost.</p>
      ) : null}
      {plan.estimatedSeconds !== undefined && plan.estimatedSeconds !== null ? (
        <p>
          <strong>Estimated time:</strong> {duration(plan.estimatedSeconds)}
          {plan.estimateBasis ? ` (${plan.estimateBasis})` : ''}
        </p>
      ) : null}
      {plan.warnings?.length ? (
        <ul class="warnings">
          {plan.warnings.map((w) => (
            <li key={w}>⚠ {w}</li>
          ))}
        </ul>
      ) : null}
      {plan.readiness ? (
        <div>
          <h4>
            Readiness:{' '}
            <Status
              value={plan.readiness.ok ? 'succeeded' : 'failed'}
              label={plan.readiness.ok ? 'ready' : 'not ready'}
            />
          </h4>
          <ul>
            {plan.readiness.checks?.map((c) => (
              <li key={c.name}>
                <Status value={c.ok ? 'succeeded' : 'failed'} label={c.name} />
                {c.message ? `: ${c.message}` : ''}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {plan.steps?.length ? (
        <div>
          <h4>Steps</h4>
          <ol>
            {plan.steps.map((s) => (
              <li key={s.name}>
                <strong>{s.name}</strong>
                {s.description ? `: ${s.description}` : ''}
              </li>
            ))}
          </ol>
        </div>
      ) : null}
      {plan.shares?.length ? (
        <table>
          <caption>Shares and the recovery point each will use</caption>
          <thead>
            <tr>
              <th scope="col">Policy</th>
              <th scope="col">Share</th>
              <th scope="col">Target share</th>
              <th scope="col">Recovery point</th>
            </tr>
          </thead>
          <tbody>
            {plan.shares.map((s) => (
              <tr key={`${s.policy}/${s.share}`}>
                <td>{s.policy}</td>
                <td>{s.share}</td>
                <td>{s.targetShare}</td>
                <td>
                  {s.recoveryPoint
                    ? `${time(s.recoveryPoint.createdAt)} (${duration(s.recoveryPoint.ageSeconds)} old)`
                    : 'none: no complete snapshot set'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {plan.redirect ? (
        <div>
          <h4>Client redirection</h4>
          {plan.redirect.summary ? <p>{plan.redirect.summary}</p> : null}
          {plan.redirect.records?.length ? (
            <ul>
              {plan.redirect.records.map((r) => (
                <li key={r.name}>
                  DNS <code>{r.name}</code>: {r.before.join(', ') || '—'} → {r.after.join(', ') || '—'}
                </li>
              ))}
            </ul>
          ) : null}
          {plan.redirect.spns?.length ? (
            <ul>
              {plan.redirect.spns.map((s) => (
                <li key={s.spn}>
                  SPN <code>{s.spn}</code>: {s.from} → {s.to}
                </li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : null}
      {!Object.keys(plan).length ? <p class="muted">The plan is empty.</p> : null}
    </div>
  );
}
