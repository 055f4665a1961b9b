// Bundles workflows/ once, at build time, so a production worker starts without webpack (faster, and a few hundred
// MiB less memory than bundling at start). `npm run build` runs it; workers use it through WORKFLOW_BUNDLE_PATH.
// Usage: tsx scripts/build-workflow-bundle.ts [output file]   (default dist/workflow-bundle.js)
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

export async function buildWorkflowBundle(out: string): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows') });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, code);
}

if (require.main === module) {
  const out = path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'dist', 'workflow-bundle.js'));
  buildWorkflowBundle(out)
    .then(() => console.log(`wrote ${path.relative(process.cwd(), out)}`))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
