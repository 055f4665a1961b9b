// The V8 flags the agent runs with (`node <flags> dist/gateway/main.js`; also in package.json's `gateway` script,
// docker-compose.yml and docs/gateway.md). A stream moves through the agent as buffers that are dead as soon as they
// are written; with V8's default 16 MiB semi-spaces the young generation is collected rarely and the sending agent of
// a 1 GiB portable base peaked at 183-204 MB of RSS. With 4 MiB: 153 MB (1 MiB: 134 MB), measured on the same data.
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
