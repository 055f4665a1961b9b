import { Cursor, encodeCursor } from './views';

describe('cursor', () => {
  it('round-trips and refuses anything else', () => {
    const at = new Date('2026-01-01T00:00:00.123Z');
    const c = encodeCursor(at, '0b4f7a8e-1f0e-4c3a-9a59-3d7e3c1b2a10');
    expect(Cursor.parse(c)).toEqual({ at, id: '0b4f7a8e-1f0e-4c3a-9a59-3d7e3c1b2a10' });
    for (const bad of [
      '',
      'zzz',
      Buffer.from('[1,2]').toString('base64url'),
      Buffer.from('["x","y"]').toString('base64url'),
    ]) {
      expect(Cursor.safeParse(bad).success).toBe(false);
    }
  });
});
