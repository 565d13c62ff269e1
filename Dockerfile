# syntax=docker/dockerfile:1.7
# One build, one image per service (build targets). Node 24 runs the TypeScript sources directly
# (type stripping), so there is no compile step: what is tested is what ships. Every image runs as `node`
# (uid 1000), writes only to /tmp and its volumes (read-only root filesystem), and has a HEALTHCHECK on its
# health route; the Helm chart uses the same images (`docker compose build` names them sigilum-gateway-<target>).

# Node 24 slim, pinned by digest. The digest was NOT checked against Docker Hub from the machine this repository is
# developed on (it reaches the npm registry and Debian mirrors only, no container registry): it is the digest public
# repositories pin for node:24.19.0-bookworm-slim, the image `node:24-slim` named when it was chosen. Before a
# release, and whenever you refresh it, check it on a machine with registry access:
#   docker buildx imagetools inspect node:24.19.0-bookworm-slim   (the "Digest:" line must match)
# Docker pulls by the digest alone (the tag is for readers): an unknown digest fails the build at `FROM`.
ARG NODE_IMAGE=node:24.19.0-bookworm-slim@sha256:a9f5f7c91a432850b2a8a7797adf5eadb6c733ceed61167806cee7ea7fbc29df

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/shared/package.json packages/shared/
COPY packages/sdk/package.json packages/sdk/
COPY services/verifier/package.json services/verifier/
COPY services/proxy/package.json services/proxy/
COPY services/pairing-bridge/package.json services/pairing-bridge/
COPY services/control-plane/package.json services/control-plane/
COPY services/cli/package.json services/cli/
# `npm install` keeps the locked versions; `npm ci` refuses a lock without every platform's optional binaries.
# No dev dependencies (test tools, Helm, Envoy protos); .dockerignore keeps the tests out as well.
RUN npm install --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production PATH=/app/node_modules/.bin:$PATH
WORKDIR /app
# Mount points owned by `node`: a new named volume takes this ownership, so the non-root services can write it.
RUN mkdir -p /secrets /sigilum /agents /var/lib/sigilum-control-plane \
  && chown node:node /secrets /sigilum /agents /var/lib/sigilum-control-plane
COPY --from=deps /app ./
COPY packages ./packages
COPY services ./services
COPY deploy ./deploy
USER node

FROM runtime AS verifier
ENV VERIFIER_ADDR=:38110
EXPOSE 38110
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "deploy/healthcheck.ts", "http://127.0.0.1:38110/health/ready"]
CMD ["node", "services/verifier/src/main.ts"]

FROM runtime AS proxy
ENV PROXY_ADDR=:38120 AUTHZ_MODE=envoy
EXPOSE 38120
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "deploy/healthcheck.ts", "http://127.0.0.1:38120/health/ready"]
CMD ["node", "services/proxy/src/main.ts"]

# Delivers the usage events the proxies queue (GATEWAY_USAGE_DELIVERY=separate): signing and posting each event
# costs more CPU than forwarding the request, so it runs beside the proxies, never inside them.
FROM runtime AS usage-worker
ENV USAGE_WORKER_ADDR=:38125
EXPOSE 38125
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "deploy/healthcheck.ts", "http://127.0.0.1:38125/health/ready"]
CMD ["node", "services/proxy/src/usage-worker/main.ts"]

FROM runtime AS pairing-bridge
ENV BRIDGE_ADDR=:38130
EXPOSE 38130
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "deploy/healthcheck.ts", "http://127.0.0.1:38130/health"]
CMD ["node", "services/pairing-bridge/src/main.ts"]

FROM runtime AS control-plane
ENV CONTROL_PLANE_ADDR=:8787 CONTROL_PLANE_DATA_DIR=/var/lib/sigilum-control-plane
EXPOSE 8787
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "deploy/healthcheck.ts", "http://127.0.0.1:8787/health"]
CMD ["node", "services/control-plane/src/main.ts"]

# `sigilum` is on PATH (the CLI workspace's bin) for `kubectl exec`; compose runs it as the entrypoint.
FROM runtime AS cli
ENTRYPOINT ["node", "services/cli/src/main.ts"]
CMD ["--help"]
