# One image for every role of the orchestrator (api, worker) and for the FSVM gateway agent; the command picks it.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY prisma ./prisma
COPY prisma.config.ts ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# btrfs-progs and samba: the gateway's btrfs snapshot driver and the SMB service whose access modes it controls.
RUN apt-get update \
 && apt-get install -y --no-install-recommends btrfs-progs samba rsync ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
# Built by `npm run build`: workers start without bundling workflows (faster, less memory).
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/package.json ./package.json
USER node
CMD ["node", "dist/api/main.js"]
