# Todo AI Chatbot backend (FastAPI, `uvicorn app.main:app` on port 8000).
# Build context: apps/backend   e.g.  docker build -f dockerfiles/backend.Dockerfile -t todo-backend:dev apps/backend
#
# Base image: python:3.11-slim by default. Why 3.11: apps/backend/requirements.lock is resolved for
# Python 3.11 (uv pip compile --python-version 3.11), and the offline base that machines without a
# registry use (todo-runbook/base-python:3.11-bookworm, Debian bookworm's python3) is 3.11 too, so
# both builds install exactly the same wheels. 3.11 is a maintained CPython release (security fixes
# until October 2027). Offline machines pass --build-arg PYTHON_IMAGE=todo-runbook/base-python:3.11-bookworm.
#
# Registry access inside the build (no host pip.conf exists in a build container) comes as build args
# computed at build time by dockerfiles/build_args.py from the host's configuration; they are used in
# the `deps` stage only and never reach the final image.
ARG PYTHON_IMAGE=python:3.11-slim

# ---- deps: a virtualenv with the locked dependencies (rebuilt only when requirements.lock changes)
FROM ${PYTHON_IMAGE} AS deps
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ARG EXTRA_CA_CERTS
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DEFAULT_TIMEOUT=120 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY requirements.lock ./
# The extra CA (for TLS-intercepting egress) is added to this throwaway stage's trust store only.
# --no-deps: the lock pins the whole tree, and `pip check` proves it is consistent. pip and setuptools
# leave the virtualenv: nothing installs packages at run time.
RUN set -eu; \
    if [ -n "${EXTRA_CA_CERTS:-}" ]; then \
      printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/build-extra-ca.crt; \
      update-ca-certificates >/dev/null 2>&1; \
      export PIP_CERT=/etc/ssl/certs/ca-certificates.crt; \
    fi; \
    python -m venv /opt/venv; \
    /opt/venv/bin/pip install --no-compile --no-deps -r requirements.lock; \
    /opt/venv/bin/pip check; \
    /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib; \
    /opt/venv/bin/pip uninstall -y -q pip setuptools >/dev/null 2>&1 || true

# ---- runtime: the interpreter, the virtualenv and the application code; nothing else
FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
# A fixed numeric UID/GID so Kubernetes runAsUser/runAsNonRoot and file ownership line up.
RUN groupadd --system --gid "${APP_UID}" app \
 && useradd --uid "${APP_UID}" --gid "${APP_UID}" --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    HOME=/tmp
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
# Code is owned by root and read-only for the app user: the root filesystem can be mounted read-only;
# the only writable path is /tmp (an emptyDir in the chart).
COPY app ./app
RUN python -m compileall -q ./app
# Labels last: a new version or revision does not invalidate the layers above.
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="todo-backend" \
      org.opencontainers.image.description="Todo AI Chatbot backend: FastAPI, MCP task tools, chat agent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="dockerfiles/backend.Dockerfile"
USER ${APP_UID}:${APP_UID}
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]
# Exec form: uvicorn is PID 1 and receives SIGTERM itself; graceful shutdown is bounded.
ENTRYPOINT ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--timeout-graceful-shutdown", "5", "--no-server-header"]
