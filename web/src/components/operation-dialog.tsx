// The confirmation of a DR operation: what it does, the choices its request offers (wait for or cancel running runs,
// read-only or off, reverse replication, which side is primary, a start time, a second admin's approval), the dry-run
// plan the API computes for it (steps, shares with their recovery points, what moves in DNS and SPNs, readiness, the
// data-loss window, an estimate, warnings), and the operator types the file server's name to go ahead. A refusal is
// shown in words. Every request of one dialog carries the same Idempotency-Key: a double click, or a retry after a
// lost answer, never starts a second operation.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, describeError } from '../api';
import { duration, time } from '../format';
import {
  DEFAULT_CHOICES,
  OPERATION_LABELS,
  OPERATION_PATHS,
  OPERATION_PURPOSE,
  choicesOf,
  newIdempotencyKey,
  operationRequest,
  type OperationChoices,
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
  const [choices, setChoices] = useState<OperationChoices>(DEFAULT_CHOICES);
  const [idempotencyKey] = useState(newIdempotencyKey);
  const [plan, setPlan] = useState<OperationPlan | null>(null);
  const [planError, setPlanError] = useState<unknown>(null);
  const [planLoading, setPlanLoading] = useState(true);
  const [planRound, setPlanRound] = useState(0);
  const [typed, setTyped] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const body = operationRequest(kind, source, destination, choices);
  const offered = choicesOf(kind);
  const choose = <K extends keyof OperationChoices>(k: K, v: OperationChoices[K]) =>
    setChoices((c) => ({ ...c, [k]: v }));

  // The plan depends on the pair and on which side becomes primary; the other choices do not change it.
  useEffect(() => {
    let stale = false;
    setPlanLoading(true);
    setPlan(null);
    setPlanError(null);
    api.post<OperationPlan>(`${OPERATION_PATHS[kind]}?dryRun=true`, body).then(
      (r) => !stale && (setPlan(r), setPlanLoading(false)),
      (err: unknown) => !stale && (setPlanError(err), setPlanLoading(false)),
    );
    return () => {
      stale = true;
    };
  }, [kind, source, destination, choices.primary, planRound]);

  // A 4xx to the dry run is the API refusing the operation itself (409: the shares' state, another operation): the
  // same request would be refused. A 5xx (no worker, a gateway down) only means the plan could not be computed.
  const refused = planError instanceof ApiError && planError.status < 500;
  const confirm = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const r = await api.post<Accepted>(OPERATION_PATHS[kind], body, { 'idempotency-key': idempotencyKey });
      onStarted(r.operationId);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  const from = kind === 'failback' ? destination : source;
  const verb = choices.requireApproval
    ? 'Request'
    : choices.startAt && offered.includes('startAt')
      ? 'Schedule'
      : 'Start';

  return (
    <Dialog title={`${OPERATION_LABELS[kind]}: ${source} → ${destination}`} onClose={onClose}>
      <p>{OPERATION_PURPOSE[kind]}</p>
      {offered.includes('primary') ? (
        <fieldset class="choice" data-choice="primary">
          <legend>Primary file server: its data wins and clients write to it</legend>
          <label>
            <input
              type="radio"
              name="primary"
              value="destination"
              checked={choices.primary === 'destination'}
              onChange={() => choose('primary', 'destination')}
            />{' '}
            <strong>{destination}</strong> (active since the failover): what {source} holds beyond the last snapshot set
            both sides share is kept in a <em>safety snapshot</em> on {source}, then {source} is rolled back to that set
            and becomes its read-only replica.
          </label>
          <label>
            <input
              type="radio"
              name="primary"
              value="source"
              checked={choices.primary === 'source'}
              onChange={() => choose('primary', 'source')}
            />{' '}
            <strong>{source}</strong> (the original source): what clients wrote on {destination} since the failover is
            kept in a <em>safety snapshot</em> on {destination}, then {destination} is rolled back and becomes the
            read-only replica again; clients go back to {source}.
          </label>
          <p class="hint">Safety snapshots are listed and never pruned: an operator deletes them.</p>
        </fieldset>
      ) : null}
      {offered.includes('waitForRunningJobs') ? (
        <fieldset class="choice" data-choice="waitForRunningJobs">
          <legend>Replication runs going on now (queued runs are always cancelled)</legend>
          <label>
            <input
              type="radio"
              name="running"
              checked={choices.waitForRunningJobs}
              onChange={() => choose('waitForRunningJobs', true)}
            />{' '}
            wait for them to finish
          </label>
          <label>
            <input
              type="radio"
              name="running"
              checked={!choices.waitForRunningJobs}
              onChange={() => choose('waitForRunningJobs', false)}
            />{' '}
            cancel them (the final delta carries their changes)
          </label>
        </fieldset>
      ) : null}
      {offered.includes('accessAfter') ? (
        <fieldset class="choice" data-choice="accessAfter">
          <legend>Once clients leave {from}, its shares are</legend>
          <label>
            <input
              type="radio"
              name="access"
              checked={choices.accessAfter === 'read_only'}
              onChange={() => choose('accessAfter', 'read_only')}
            />{' '}
            read-only (clients can still read)
          </label>
          <label>
            <input
              type="radio"
              name="access"
              checked={choices.accessAfter === 'off'}
              onChange={() => choose('accessAfter', 'off')}
            />{' '}
            off (not served at all)
          </label>
        </fieldset>
      ) : null}
      {offered.includes('fenceMode') ? (
        <fieldset class="choice" data-choice="fenceMode">
          <legend>When {source} answers again, its shares become</legend>
          <label>
            <input
              type="radio"
              name="fence"
              checked={choices.fenceMode === 'read_only'}
              onChange={() => choose('fenceMode', 'read_only')}
            />{' '}
            read-only
          </label>
          <label>
            <input
              type="radio"
              name="fence"
              checked={choices.fenceMode === 'off'}
              onChange={() => choose('fenceMode', 'off')}
            />{' '}
            off
          </label>
        </fieldset>
      ) : null}
      {offered.includes('startReverseReplication') ? (
        <label class="check">
          <input
            type="checkbox"
            id="reverse-replication"
            checked={choices.startReverseReplication}
            onChange={(e) => choose('startReverseReplication', e.currentTarget.checked)}
          />{' '}
          Replicate from {destination} back to {source} at once (otherwise replication stays paused until a failback or
          a resume)
        </label>
      ) : null}
      {offered.includes('startAt') ? (
        <div class="field">
          <label for="start-at">Start at (empty: now; a scheduled operation can be cancelled until it starts)</label>
          <input
            id="start-at"
            type="datetime-local"
            value={choices.startAt}
            onInput={(e) => choose('startAt', e.currentTarget.value)}
          />
        </div>
      ) : null}
      {offered.includes('requireApproval') ? (
        <label class="check">
          <input
            type="checkbox"
            id="require-approval"
            checked={choices.requireApproval}
            onChange={(e) => choose('requireApproval', e.currentTarget.checked)}
          />{' '}
          Require a second admin’s approval before it starts
        </label>
      ) : null}
      <section class="plan" aria-labelledby="plan-title" aria-busy={planLoading}>
        <h3 id="plan-title">What will happen</h3>
        {planLoading ? <p class="muted">Asking the API for the plan…</p> : null}
        {planError ? (
          <div class={refused ? 'error' : 'notice'} role="alert" data-plan={refused ? 'refused' : 'unavailable'}>
            <p>
              {refused
                ? `The API refuses this operation now: ${describeError(planError)}`
                : `The plan could not be computed: ${describeError(planError)}. You can still go ahead; the operation checks everything again before it changes anything.`}
            </p>
            <button type="button" class="secondary small" onClick={() => setPlanRound((n) => n + 1)}>
              Ask again
            </button>
          </div>
        ) : null}
        {plan ? <Plan plan={plan} kind={kind} primary={choices.primary} /> : null}
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
            disabled={busy || planLoading || refused || typed !== source}
          >
            {busy ? 'Starting…' : `${verb} ${OPERATION_LABELS[kind]!.toLowerCase()}`}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function Plan({ plan, kind, primary }: { plan: OperationPlan; kind: OperationKind; primary: Primary }) {
  const loss = plan.dataLossWindowSeconds;
  const others = plan.destinations.join(', ') || '—';
  const back = kind === 'failback' || (kind === 'resume_replication' && primary === 'source');
  return (
    <div data-plan="ready">
      <p>
        <strong>Clients:</strong>{' '}
        {kind === 'dr_readiness'
          ? `stay where they are (a readiness check of ${plan.source} → ${others} changes nothing)`
          : back
            ? `move from ${others} back to ${plan.source}`
            : `move from ${plan.source} to ${others}`}
      </p>
      {kind === 'unplanned_failover' ? (
        <p class={loss ? 'warning' : ''} data-loss-window={loss ?? ''}>
          <strong>Data-loss window:</strong>{' '}
          {loss === null
            ? 'unknown (no complete snapshot set yet)'
            : loss === 0
              ? 'none'
              : `the changes of the last ${duration(loss)} on ${plan.source} are lost`}
        </p>
      ) : kind === 'planned_failover' || kind === 'failback' ? (
        <p>
          <strong>Data-loss window:</strong> none (writes stop, then a final delta is replicated and verified)
        </p>
      ) : null}
      <p>
        <strong>Estimated time:</strong> {plan.estimatedSeconds === null ? 'unknown' : duration(plan.estimatedSeconds)}
        {plan.estimateBasis ? ` (${plan.estimateBasis})` : ''}
      </p>
      {plan.warnings.length ? (
        <ul class="warnings">
          {plan.warnings.map((w) => (
            <li key={w}>⚠ {w}</li>
          ))}
        </ul>
      ) : null}
      <div>
        <h4>
          Readiness:{' '}
          <Status
            value={plan.readiness.ok ? 'succeeded' : 'failed'}
            label={plan.readiness.ok ? 'ready' : 'not ready'}
          />
        </h4>
        <ul>
          {plan.readiness.checks.map((c) => (
            <li key={c.name}>
              <Status value={c.ok ? 'succeeded' : 'failed'} label={c.name} />
              {c.message ? `: ${c.message}` : ''}
            </li>
          ))}
        </ul>
      </div>
      <div>
        <h4>Steps</h4>
        <ol class="plan-steps">
          {plan.steps.map((s) => (
            <li key={s.name}>
              <strong>{s.name}</strong>
              {s.description ? `: ${s.description}` : ''}
            </li>
          ))}
        </ol>
      </div>
      {plan.shares.length ? (
        <table>
          <caption>Shares and the recovery point on the side clients move to</caption>
          <thead>
            <tr>
              <th scope="col">Policy</th>
              <th scope="col">Share</th>
              <th scope="col">Target</th>
              <th scope="col">Recovery point</th>
            </tr>
          </thead>
          <tbody>
            {plan.shares.map((s) => (
              <tr key={`${s.policy}/${s.share}`}>
                <td>{s.policy}</td>
                <td>{s.share}</td>
                <td>
                  {s.destination}/{s.targetShare}
                </td>
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
      <div data-plan-redirect>
        <h4>Client redirection</h4>
        <p>{plan.redirect.summary}</p>
        {plan.redirect.records.length ? (
          <ul>
            {plan.redirect.records.map((r) => (
              <li key={r.name}>
                DNS <code>{r.name}</code>: {r.before.join(', ') || '(no record)'} →{' '}
                {r.after.join(', ') || '(no record)'}
              </li>
            ))}
          </ul>
        ) : null}
        {plan.redirect.spns.length ? (
          <ul>
            {plan.redirect.spns.map((s) => (
              <li key={s.spn}>
                SPN <code>{s.spn}</code>: {s.from ?? 'nobody'} → {s.to}
              </li>
            ))}
          </ul>
        ) : null}
      </div>
    </div>
  );
}
