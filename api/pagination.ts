// Keyset (cursor) pagination, one way for every list: rows are ordered by (timestamp desc, id desc), a page asks for
// one row more than it shows, and the cursor is the last shown row's key (api/views.ts encodes it opaquely). A row
// inserted while a client pages never shifts the next page, unlike OFFSET.
import { encodeCursor } from './views';

/** One row beyond the page tells whether there is a next page. */
export function fetchSize(limit: number): number {
  return limit + 1;
}

/** The page to show and the cursor of the next one (null on the last page). */
export function keysetPage<T>(
  rows: T[],
  limit: number,
  keyOf: (row: T) => { at: Date; id: string },
): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  if (rows.length <= limit || !last) return { items, nextCursor: null };
  const key = keyOf(last);
  return { items, nextCursor: encodeCursor(key.at, key.id) };
}

/** Prisma condition for the rows after the cursor in (at desc, id desc) order. */
export function afterCursor<A extends string, I extends string>(
  cursor: { at: Date; id: string },
  atField: A,
  idField: I,
): { OR: Record<string, unknown>[] } {
  return {
    OR: [{ [atField]: { lt: cursor.at } }, { [atField]: cursor.at, [idField]: { lt: cursor.id } }],
  };
}
