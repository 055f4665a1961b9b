// The admin API's job history under load: 100k jobs over 500 shares (50 policies, 10 file server pairs) in an
// embedded PostgreSQL, then filtered job-list pages (first pages and deep cursor pages) and job details through the
// real HTTP server (auth, validation, serialisation included). Yardstick: the same queries as direct SQL via `pg`,
// so the API's overhead shows as a ratio. `--quick` seeds 20k jobs and runs fewer requests.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { createApp } from '../api/app';
import { createToken } from '../api/routes/tokens';
import { createDb } from '../infra/database';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';
import { createLogger } from '../infra/logger';
import { applyMigrations } from '../infra/migrate';
import { createSecretBox } from '../infra/secrets';
import { freePort } from '../test/helpers/ports';
import type { Benchmark } from './run';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
const stats = (times: number[]) => {
  const s = [...times].sort((a, b) => a - b);
  return { p50: round(percentile(s, 50)), p95: round(percentile(s, 95)) };
};

const SHARES = 500;
const POLICIES = 50;
const PAIRS = 10;

const bench: Benchmark = async ({ quick, log }) => {
  const jobs = quick ? 20_000 : 100_000;
  const rounds = quick ? 40 : 200;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdr-bench-api-'));
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort(), database: 'fsdr' });
  const sql = new PgClient({ connectionString: pg.url });
  const db = createDb(pg.url);
  let server: import('node:http').Server | undefined;
  try {
    await applyMigrations(pg.url);
    await sql.connect();
    const version = (await sql.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
    const t0 = Date.now();
    // 20 file servers (10 pairs), 50 policies of 10 shares each, jobs spread over the shares and the last 100 days.
    await sql.query(`INSERT INTO "FileServer" (id, name, site, "dnsName", "updatedAt")
      SELECT gen_random_uuid(), 'fs' || g, 'site' || g, 'fs' || g || '.corp.example.com', now() FROM generate_series(1, ${PAIRS * 2}) g`);
    await sql.query(`INSERT INTO "ReplicationPolicy" (id, name, "sourceFileServerId", "destFileServerId", "rpoSeconds", status, "updatedAt")
      SELECT gen_random_uuid(), 'policy' || g,
        (SELECT id FROM "FileServer" WHERE name = 'fs' || (g % ${PAIRS} * 2 + 1)),
        (SELECT id FROM "FileServer" WHERE name = 'fs' || (g % ${PAIRS} * 2 + 2)), 900, 'active', now()
      FROM generate_series(0, ${POLICIES - 1}) g`);
    await sql.query(`INSERT INTO "PolicyShare" (id, "policyId", "sourceShare", "targetShare")
      SELECT gen_random_uuid(), p.id, 'share' || s, 'share' || s
      FROM generate_series(0, ${SHARES - 1}) s JOIN "ReplicationPolicy" p ON p.name = 'policy' || (s / ${SHARES / POLICIES})`);
    await sql.query(`INSERT INTO "Job" (id, "policyId", kind, state, share, "targetShare", "sourceFileServer", "destFileServer",
        incremental, "bytesTotal", "bytesSynced", percent, "throughputBps", "rpoCompliant", "startedAt", "endedAt")
      SELECT gen_random_uuid(), p.id, 'scheduled',
        (CASE WHEN j % 50 = 0 THEN 'failed' WHEN j % 97 = 0 THEN 'running' ELSE 'succeeded' END)::"JobState",
        ps."sourceShare", ps."targetShare", s.name, d.name, j % 10 <> 0, 1000000 + j, 1000000 + j, 100, 50000000,
        j % 50 <> 0, now() - (j || ' minutes')::interval * (${(100 * 24 * 60) / jobs}),
        now() - (j || ' minutes')::interval * (${(100 * 24 * 60) / jobs}) + interval '90 seconds'
      FROM generate_series(1, ${jobs}) j
      JOIN "PolicyShare" ps ON ps."sourceShare" = 'share' || (j % ${SHARES})
      JOIN "ReplicationPolicy" p ON p.id = ps."policyId"
      JOIN "FileServer" s ON s.id = p."sourceFileServerId"
      JOIN "FileServer" d ON d.id = p."destFileServerId"`);
    await sql.query(`INSERT INTO "SubJob" (id, "jobId", portion, "sourceNodeId", "destNodeId", state, "bytesTotal", "bytesSynced", "startedAt")
      SELECT gen_random_uuid(), id, '', 'node-a', 'node-b', state, "bytesTotal", "bytesSynced", "startedAt" FROM "Job"`);
    await sql.query('ANALYZE');
    log(
      `seeded ${jobs} jobs over ${SHARES} shares in ${((Date.now() - t0) / 1000).toFixed(1)} s (PostgreSQL ${version})`,
    );

    const token = (await createToken(db, 'bench', 'viewer')).token;
    // Job routes never touch Temporal: a lazy connection that is never used.
    const temporal = new TemporalClient({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
    const app = createApp({
      db,
      temporal,
      temporalAddress: '127.0.0.1:1',
      taskQueue: 'bench',
      logger: createLogger({ log: { level: 'silent', format: 'json' } }),
      secrets: createSecretBox(randomBytes(32)),
    });
    server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const base = `http://127.0.0.1:${(server!.address() as AddressInfo).port}/api/v1`;
    const headers = { authorization: `Bearer ${token}` };
    const get = async (url: string): Promise<unknown> => {
      const res = await fetch(url, { headers });
      if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
      return res.json();
    };

    const from = new Date(Date.now() - 30 * 86_400_000).toISOString();
    const to = new Date(Date.now() - 20 * 86_400_000).toISOString();
    const filters = [
      '',
      'status=failed',
      'policy=policy7',
      'share=share123',
      'source=fs3&destination=fs4',
      `from=${from}&to=${to}`,
      'status=succeeded&source=fs5',
    ];
    // The same queries in SQL (the API's own ORDER BY/LIMIT and the policy name join).
    const sqlList = async (filter: string, cursor?: { at: Date; id: string }) => {
      const where: string[] = [];
      const args: unknown[] = [];
      const q = new URLSearchParams(filter);
      const add = (cond: string, v: unknown) => (args.push(v), where.push(cond.replace('?', `$${args.length}`)));
      if (q.get('status')) add('j.state = ?::"JobState"', q.get('status'));
      if (q.get('policy')) add('j."policyId" = (SELECT id FROM "ReplicationPolicy" WHERE name = ?)', q.get('policy'));
      if (q.get('share')) add('j.share = ?', q.get('share'));
      if (q.get('source')) add('j."sourceFileServer" = ?', q.get('source'));
      if (q.get('destination')) add('j."destFileServer" = ?', q.get('destination'));
      if (q.get('from')) add('j."startedAt" >= ?', new Date(q.get('from')!));
      if (q.get('to')) add('j."startedAt" < ?', new Date(q.get('to')!));
      if (cursor) {
        args.push(cursor.at, cursor.id);
        where.push(`(j."startedAt", j.id) < ($${args.length - 1}, $${args.length}::uuid)`);
      }
      return sql.query(
        `SELECT j.*, p.name AS policy FROM "Job" j LEFT JOIN "ReplicationPolicy" p ON p.id = j."policyId"
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY j."startedAt" DESC, j.id DESC LIMIT 51`,
        args,
      );
    };

    // warm-up
    for (const f of filters) {
      await get(`${base}/jobs?${f}`);
      await sqlList(f);
    }
    const apiList: number[] = [];
    const apiDeep: number[] = [];
    const sqlListT: number[] = [];
    const sqlDeep: number[] = [];
    const ids: string[] = [];
    for (let r = 0; r < rounds; r++) {
      const f = filters[r % filters.length]!;
      let t = performance.now();
      const page = (await get(`${base}/jobs?${f}`)) as {
        items: { id: string; startedAt: string }[];
        nextCursor: string | null;
      };
      apiList.push(performance.now() - t);
      t = performance.now();
      const rowsFirst = await sqlList(f);
      sqlListT.push(performance.now() - t);
      if (page.items[0]) ids.push(page.items[r % page.items.length]?.id ?? page.items[0].id);
      // a deeper page: follow the cursor a few times
      let cursor = page.nextCursor;
      let sqlCursor = rowsFirst.rows[49] as { startedAt: Date; id: string } | undefined;
      for (let depth = 0; depth < 3 && cursor; depth++) {
        t = performance.now();
        const next = (await get(`${base}/jobs?${f}${f ? '&' : ''}cursor=${cursor}`)) as { nextCursor: string | null };
        apiDeep.push(performance.now() - t);
        cursor = next.nextCursor;
        if (sqlCursor) {
          t = performance.now();
          const rs = await sqlList(f, { at: sqlCursor.startedAt, id: sqlCursor.id });
          sqlDeep.push(performance.now() - t);
          sqlCursor = rs.rows[49] as { startedAt: Date; id: string } | undefined;
        }
      }
    }
    const apiDetail: number[] = [];
    const sqlDetail: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const id = ids[r % ids.length]!;
      let t = performance.now();
      await get(`${base}/jobs/${id}`);
      apiDetail.push(performance.now() - t);
      t = performance.now();
      await sql.query(
        `SELECT j.*, p.name AS policy FROM "Job" j LEFT JOIN "ReplicationPolicy" p ON p.id = j."policyId" WHERE j.id = $1`,
        [id],
      );
      await sql.query(`SELECT * FROM "SubJob" WHERE "jobId" = $1 ORDER BY portion`, [id]);
      sqlDetail.push(performance.now() - t);
    }
    const list = stats([...apiList, ...apiDeep]);
    const sqlL = stats([...sqlListT, ...sqlDeep]);
    const detail = stats(apiDetail);
    const sqlD = stats(sqlDetail);
    log(
      `job list  : API p50 ${list.p50} ms p95 ${list.p95} ms | SQL p50 ${sqlL.p50} ms p95 ${sqlL.p95} ms (${apiList.length + apiDeep.length} pages)`,
    );
    log(`job detail: API p50 ${detail.p50} ms p95 ${detail.p95} ms | SQL p50 ${sqlD.p50} ms p95 ${sqlD.p95} ms`);
    return {
      database: `embedded PostgreSQL ${version}`,
      jobs,
      shares: SHARES,
      jobs_list_p50_ms: list.p50,
      jobs_list_p95_ms: list.p95,
      job_detail_p50_ms: detail.p50,
      job_detail_p95_ms: detail.p95,
      sql_list_p95_ms: sqlL.p95,
      sql_detail_p95_ms: sqlD.p95,
      list_overhead_ratio: round(list.p95 / Math.max(sqlL.p95, 0.01)),
      detail_overhead_ratio: round(detail.p95 / Math.max(sqlD.p95, 0.01)),
      list_goal_met: list.p95 < 50,
      detail_goal_met: detail.p95 < 20,
    };
  } finally {
    if (server) await new Promise((r) => server!.close(r));
    await sql.end().catch(() => undefined);
    await db.$disconnect();
    await pg.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
};

export default bench;
