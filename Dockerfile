# One image for the API and the runner (the repository runs from TypeScript source through tsx; no build step).
FROM node:20-bookworm-slim
WORKDIR /app
# The whole workspace first: npm ci needs every workspace's package.json the lockfile names.
COPY . .
RUN npm ci --no-audit --no-fund
ENV HOST=0.0.0.0 PORT=3000 HIL_DATA_DIR=/data
EXPOSE 3000
CMD ["node", "--import", "tsx", "apps/api/src/server.ts"]
