// A share (seed fig. 23): where it is protected to, whether it is within its RPO, its last recovery point, and its
// replication jobs, filtered by result.
import { useState } from 'preact/hooks';
import { api, enc } from '../api';
import { ErrorMessage, Facts, Loading } from '../components/common';
import { Status } from '../components/status';
import { ago, time } from '../format';
import { useLiveEvents, useResource } from '../hooks';
import { href } from '../router';
import type { JobState, PolicyDetails, ShareDetails } from '../types';
import { JobTable } from './jobs';

export function ShareView({ fileServer, share }: { fileServer: string; share: string }) {
  const details = useResource<ShareDetails>(
    () => api.get<ShareDetails>(`/file-servers/${enc(fileServer)}/shares/${enc(share)}`),
    [fileServer, share],
    {
      topics: ['policies', 'fileServers'],
      reloadOn: (e): boolean =>
        e.type === 'job' && e.data.share === share && !details.data?.history.some((j) => j.id === e.data.id),
    },
  );
  useLiveEvents((e) => {
    if (e.type !== 'job' || e.data.share !== share) return;
    details.setData((d) => ({ ...d, history: d.history.map((j) => (j.id === e.data.id ? { ...j, ...e.data } : j)) }));
  });
  const asSource = details.data?.protectedBy.find((u) => u.role === 'source');
  const policy = useResource(
    () => (asSource ? api.get<PolicyDetails>(`/policies/${enc(asSource.policy)}`) : Promise.resolve(null)),
    [asSource?.policy],
    { topics: ['policies'] },
  );
  const [state, setState] = useState<JobState | ''>('');
  const d = details.data;
  const mine = policy.data?.shares.find((s) => s.source === share);
  const history = (d?.history ?? []).filter((j) => !state || j.state === state);
  return (
    <section>
      <p class="crumbs">
        <a href="#/file-servers">File servers</a> › <a href={href('file-servers', fileServer)}>{fileServer}</a> › share{' '}
        {share}
      </p>
      <h1>Share {share}</h1>
      <ErrorMessage error={details.error} />
      {!d && !details.error ? <Loading what="the share" /> : null}
      {d ? (
        <Facts
          rows={[
            ['Primary (source) file server', fileServer],
            [
              'Recovery (destination)',
              asSource ? (
                <>
                  {asSource.peer} / {asSource.peerShare} (policy{' '}
                  <a href={href('policies', asSource.policy)}>{asSource.policy}</a>)
                </>
              ) : d.protectedBy.length ? (
                d.protectedBy.map((u) => `replica of ${u.peer}/${u.peerShare} (policy ${u.policy})`).join('; ')
              ) : (
                'not protected'
              ),
            ],
            ['RPO compliance', mine ? <Status value={mine.compliance} /> : '—'],
            [
              'Last recovery point',
              mine?.lastCompleteAt ? `${time(mine.lastCompleteAt)} (${ago(mine.lastCompleteAt)})` : 'none yet',
            ],
            ['Kind', d.kind],
            ['Client access', d.accessMode.replace('_', ' ')],
          ]}
        />
      ) : null}
      <h2>Replication jobs</h2>
      <label for="share-state">Result</label>{' '}
      <select id="share-state" value={state} onChange={(e) => setState(e.currentTarget.value as JobState | '')}>
        <option value="">any</option>
        {['running', 'succeeded', 'failed', 'cancelled', 'pending'].map((s) => (
          <option key={s}>{s}</option>
        ))}
      </select>
      {d ? <JobTable jobs={history} /> : null}
    </section>
  );
}
