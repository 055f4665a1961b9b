// Prisma CLI configuration. The JS schema engine (WASM) works offline, unlike the native engine that Prisma downloads
// at first use; it talks to PostgreSQL through the same driver adapter as the application.
import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { PrismaPg } from '@prisma/adapter-pg';

export default defineConfig({
  experimental: { adapter: true },
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
  engine: 'js',
  async adapter() {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error('DATABASE_URL is not set: the Prisma CLI needs a PostgreSQL URL');
    return new PrismaPg({ connectionString: url });
  },
});
