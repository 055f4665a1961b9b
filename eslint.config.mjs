// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tools/', '.data/', 'coverage/', 'prisma/generated/', 'jest.config.js'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
    },
  },
  { files: ['**/*.mjs', '**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no I/O, no Node built-ins, no clocks or randomness of
    // its own. Only @temporalio/workflow, pure domain modules and `import type` of activities are allowed.
    files: ['workflows/**/*.ts'],
    ignores: ['workflows/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'fs/*', 'path', 'child_process', 'http', 'https', 'net', 'os', 'crypto'],
              message: 'workflows must be deterministic: do I/O in activities',
            },
            {
              group: ['../activities/*', '../infra/*', '../api/*', '../gateway/*', '../store/*', '@prisma/*', 'pino'],
              message: 'workflows import only @temporalio/workflow, domain/ and `import type` of activities',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    // The API stores settings and starts workflows; LDAP is only ever spoken by activities (data flows one way).
    files: ['api/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../directory/*', '../../directory/*', 'ldapts'],
              message: 'the API never talks to the directory: start a workflow',
            },
          ],
        },
      ],
    },
  },
  {
    // fsdr speaks to fs-dr through the REST API only: it may read the API's types, never run its code.
    files: ['cli/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '../api/*',
                '../../api/*',
                '../infra/*',
                '../../infra/*',
                '../store/*',
                '../../store/*',
                '../activities/*',
                '../../activities/*',
                '../workflows/*',
                '../../workflows/*',
                '../domain/*',
                '../../domain/*',
                '!../domain/operation-labels',
                '@prisma/*',
                '@temporalio/*',
              ],
              message: 'the CLI is a client of the REST API: import only types from the server (import type)',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    // The package's bin (CommonJS): runs the CLI's source through tsx in a checkout, or the build.
    files: ['cli/bin.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
