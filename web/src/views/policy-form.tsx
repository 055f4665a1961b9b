// Create or edit a replication policy (seed figs. 24-25): source and destination, the shares to protect and the
// target share of each, RPO and how many snapshot sets to keep. The API validates; its message for a field is shown
// beside that field (the form does not second-guess it).
import { useEffect, useState } from 'preact/hooks';
import { allows, api, ApiError, enc } from '../api';
import { ErrorMessage, Field, Loading } from '../components/common';
import { useResource } from '../hooks';
import { href, navigate } from '../router';
import type { Accepted, FileServerOverview, PolicyDetails, Role, ShareList } from '../types';

interface Row {
  source: string;
  selected: boolean;
  target: string;
}

export function PolicyForm({ role, name }: { role: Role; name?: string }) {
  const editing = name !== undefined;
  const servers = useResource(() => api.get<{ items: FileServerOverview[] }>('/file-servers'), []);
  const existing = useResource(
    () => (editing ? api.get<PolicyDetails>(`/policies/${enc(name)}`) : Promise.resolve(null)),
    [name],
  );
  const [form, setForm] = useState({ name: '', source: '', destination: '', rpoMinutes: '15', retentionCount: '3' });
  const [rows, setRows] = useState<Row[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const p = existing.data;
    if (!p) return;
    setForm({
      name: p.name,
      source: p.source,
      destination: p.destination,
      rpoMinutes: String(p.rpoMinutes),
      retentionCount: String(p.retentionCount),
    });
  }, [existing.data]);

  const shares = useResource(
    () => (form.source ? api.get<ShareList>(`/file-servers/${enc(form.source)}/shares`) : Promise.resolve(null)),
    [form.source],
  );
  useEffect(() => {
    const list = shares.data?.shares ?? [];
    const current = existing.data?.shares ?? [];
    setRows(
      list
        .filter((s) => !s.protectedBy.some((u) => u.role === 'target'))
        .map((s) => {
          const mine = current.find((c) => c.source === s.name);
          const elsewhere = s.protectedBy.some((u) => u.role === 'source' && u.policy !== name);
          return { source: s.name, selected: !!mine, target: mine?.target ?? s.name, elsewhere };
        })
        .filter((r) => !r.elsewhere),
    );
  }, [shares.data, existing.data]);

  if (!allows(role, 'admin')) {
    return (
      <section>
        <h1>{editing ? `Edit policy ${name}` : 'New policy'}</h1>
        <p class="error" role="alert">
          Your token's role ({role}) cannot change policies; an admin token can.
        </p>
      </section>
    );
  }

  const apiError = error instanceof ApiError ? error : null;
  const field = (path: string) => apiError?.field(path);
  const selected = rows.filter((r) => r.selected);
  // The API names shares by their index in the list it was sent.
  const shareError = (source: string, part: 'source' | 'target') => {
    const i = selected.findIndex((r) => r.source === source);
    return i < 0 ? undefined : field(`body.shares.${i}.${part}`);
  };
  const known = new Set([
    'body.name',
    'body.source',
    'body.destination',
    'body.rpoMinutes',
    'body.retentionCount',
    'body.shares',
    ...selected.flatMap((_, i) => [`body.shares.${i}.source`, `body.shares.${i}.target`]),
  ]);
  const unplaced = apiError?.problem.errors?.filter((e) => !known.has(e.path)) ?? [];
  const num = (v: string) => (v.trim() === '' ? undefined : Number(v));

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const shareList = selected.map((r) => ({
      source: r.source,
      ...(r.target !== r.source ? { target: r.target } : {}),
    }));
    try {
      const r = editing
        ? await api.patch<Accepted>(`/policies/${enc(name)}`, {
            rpoMinutes: num(form.rpoMinutes),
            retentionCount: num(form.retentionCount),
            shares: shareList,
          })
        : await api.post<Accepted & { policy: string }>('/policies', {
            name: form.name,
            source: form.source,
            destination: form.destination,
            rpoMinutes: num(form.rpoMinutes),
            retentionCount: num(form.retentionCount),
            shares: shareList,
          });
      navigate(`/policies/${editing ? name : form.name}`);
      void r;
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const names = (servers.data?.items ?? []).map((s) => s.name);
  const set = (k: keyof typeof form) => (e: { currentTarget: { value: string } }) =>
    setForm((f) => ({ ...f, [k]: e.currentTarget.value }));
  return (
    <section>
      <p class="crumbs">
        <a href="#/policies">Policies</a> › {editing ? <a href={href('policies', name)}>{name}</a> : 'new'}
      </p>
      <h1>{editing ? `Edit policy ${name}` : 'New replication policy'}</h1>
      <ErrorMessage error={servers.error || existing.error} />
      {editing && !existing.data ? <Loading what="the policy" /> : null}
      <form class="policy-form" onSubmit={(e) => void submit(e)} noValidate>
        <Field id="policy-name" label="Name" error={field('body.name')} hint="letters, digits, _ . -">
          <input id="policy-name" value={form.name} disabled={editing} onInput={set('name')} />
        </Field>
        <Field id="policy-source" label="Primary file server (source)" error={field('body.source')}>
          <select id="policy-source" value={form.source} disabled={editing} onChange={set('source')}>
            <option value="">choose…</option>
            {names.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </Field>
        <Field id="policy-destination" label="Recovery file server (destination)" error={field('body.destination')}>
          <select id="policy-destination" value={form.destination} disabled={editing} onChange={set('destination')}>
            <option value="">choose…</option>
            {names.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </Field>
        <Field id="policy-rpo" label="RPO (minutes)" error={field('body.rpoMinutes')} hint="1 to 10080">
          <input
            id="policy-rpo"
            type="number"
            inputMode="numeric"
            value={form.rpoMinutes}
            onInput={set('rpoMinutes')}
          />
        </Field>
        <Field
          id="policy-retention"
          label="Snapshot sets kept per share"
          error={field('body.retentionCount')}
          hint="1 to 100"
        >
          <input
            id="policy-retention"
            type="number"
            inputMode="numeric"
            value={form.retentionCount}
            onInput={set('retentionCount')}
          />
        </Field>
        <fieldset class="shares">
          <legend>Shares to protect</legend>
          {!form.source ? <p class="muted">Choose the source first.</p> : null}
          <ErrorMessage error={shares.error} prefix="The shares could not be listed" />
          {form.source && shares.data && !rows.length ? (
            <p class="muted">No unprotected share on {form.source}.</p>
          ) : null}
          {field('body.shares') ? (
            <p class="field-error" role="alert">
              {field('body.shares')}
            </p>
          ) : null}
          {rows.map((r, i) => (
            <div class="row share-row" key={r.source} data-share={r.source}>
              <label class="check">
                <input
                  type="checkbox"
                  checked={r.selected}
                  onChange={(e) => {
                    const v = e.currentTarget.checked;
                    setRows((l) => l.map((x, j) => (j === i ? { ...x, selected: v } : x)));
                  }}
                />{' '}
                {r.source}
              </label>
              {shareError(r.source, 'source') ? (
                <span class="field-error" role="alert">
                  {shareError(r.source, 'source')}
                </span>
              ) : null}
              <Field id={`target-${r.source}`} label="target share" error={shareError(r.source, 'target')}>
                <input
                  id={`target-${r.source}`}
                  value={r.target}
                  disabled={!r.selected}
                  onInput={(e) => {
                    const v = e.currentTarget.value;
                    setRows((l) => l.map((x, j) => (j === i ? { ...x, target: v } : x)));
                  }}
                />
              </Field>
            </div>
          ))}
        </fieldset>
        {apiError?.problem.errors?.length && !unplaced.length ? (
          <p class="error" role="alert">
            The API refused the policy: see the messages beside the fields marked ✗.
          </p>
        ) : null}
        {unplaced.length || (error && !apiError?.problem.errors?.length) ? (
          <div class="error" role="alert">
            <p>{apiError ? `${apiError.problem.title ?? 'Refused'}: ${apiError.problem.detail ?? ''}` : null}</p>
            {!apiError ? <ErrorMessage error={error} /> : null}
            <ul>
              {unplaced.map((e) => (
                <li key={e.path}>
                  {e.path}: {e.message}
                </li>
              ))}
            </ul>
          </div>
        ) : null}
        <div class="buttons">
          <a class="button secondary" href={editing ? href('policies', name) : '#/policies'}>
            Cancel
          </a>
          <button type="submit" disabled={busy}>
            {busy ? 'Saving…' : editing ? 'Save changes' : 'Create policy'}
          </button>
        </div>
      </form>
    </section>
  );
}
