# One image for the API and the runner (the repository runs from TypeScript source through tsx; no build step).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY runners/protocol/package.json runners/protocol/
COPY runners/board/package.json runners/board/
COPY runners/emulator/package.json runners/emulator/
COPY runners/agent/package.json runners/agent/
COPY test-suites/ieee802154/package.json test-suites/ieee802154/
COPY scripts scripts
COPY prisma prisma
COPY prisma.config.ts ./
RUN npm ci --no-audit --no-fund
COPY . .
ENV HOST=0.0.0.0 PORT=3000 HIL_DATA_DIR=/data
EXPOSE 3000
CMD ["node", "--import", "tsx", "apps/api/src/server.ts"]
