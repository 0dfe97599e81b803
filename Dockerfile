# dingtalk-mcp-server: the bridge as a small, non-root image.
#   docker build -t dingtalk-mcp-server .
#   docker run -d --name dingtalk -e DINGTALK_CLIENT_ID=… -e DINGTALK_CLIENT_SECRET=… \
#     -e OPENCODE_SERVER_URL=http://opencode:4096 -v dingtalk-state:/home/node/.local/state dingtalk-mcp-server
# Build stage: compile and bundle with the dev tools (TypeScript, rolldown).
FROM node:22-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: the pinned-Node and OpenCode devDependencies are for development on older hosts and tests.
RUN npm install --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json rolldown.config.mjs ./
COPY build ./build
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies and the built files only.
FROM node:22-slim
ENV NODE_ENV=production \
    MCP_HTTP_PORT=8787 \
    MCP_HTTP_HOST=127.0.0.1
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY README.md LICENSE .env.example ./
# The state directory (conversations, pairings, the inbox) is a volume the unprivileged user must own.
RUN mkdir -p /home/node/.local/state && chown -R node:node /home/node/.local
USER node
# /healthz is served on 127.0.0.1 inside the container; serving MCP to other hosts needs MCP_HTTP_HOST=0.0.0.0 and MCP_HTTP_TOKEN.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.MCP_HTTP_PORT||8787)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/main.js"]
CMD ["serve"]
