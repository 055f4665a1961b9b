// `node --import tsx --import ./test/fuzz/loopback-only-preload.ts gateway/main.ts`: the agent under fuzzing reaches
// nothing but loopback (see loopback-only.ts); at exit it says which hosts it was kept from.
import { installLoopbackOnly } from './loopback-only';

const guard = installLoopbackOnly();
process.on('exit', () => {
  if (guard.refused.length) console.error(`[loopback-only] refused: ${guard.refused.slice(0, 20).join(', ')}`);
});
