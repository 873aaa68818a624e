# Todo AI Chatbot backend (FastAPI, `uvicorn app.main:app` on port 8000), or any FastAPI app written the
# Phase III way, by build arguments alone.
# Build context: apps/backend   e.g.  docker build -f dockerfiles/backend.Dockerfile -t todo-backend:dev apps/backend
#
# Dependencies, first found wins: requirements.lock (pinned, --no-deps), pyproject.toml + uv.lock (exported
# with uv, installed with pip --no-deps), requirements.txt (pip resolves). The app: APP_MODULE (uvicorn's
# module:attribute), APP_SOURCES (what to copy: its top-level package, or `.`), APP_PORT, HEALTH_PATH,
# READY_PATH. dockerfiles/build_args.py checks the context before a build and computes APP_SOURCES.
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

# ---- deps: a virtualenv with the app's dependencies (rebuilt only when a dependency file changes)
FROM ${PYTHON_IMAGE} AS deps
# uv only reads uv.lock here (exports it as pinned requirements); it is installed from the package index
# with this stage's python and never reaches the runtime stage.
ARG UV_VERSION=0.13.9
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ARG EXTRA_CA_CERTS
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DEFAULT_TIMEOUT=120 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
# The globs let an app have any one of the dependency files (at least one exists: checked before the build).
COPY requirements.lock* requirements.txt* pyproject.toml* uv.lock* ./
# The extra CA (for TLS-intercepting egress) is added to this throwaway stage's trust store only.
# --no-deps for locks: they pin the whole tree, and `pip check` proves it is consistent. pip and setuptools
# leave the virtualenv: nothing installs packages at run time.
RUN set -eu; \
    if [ -n "${EXTRA_CA_CERTS:-}" ]; then \
      printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/build-extra-ca.crt; \
      update-ca-certificates >/dev/null 2>&1; \
      export PIP_CERT=/etc/ssl/certs/ca-certificates.crt; \
    fi; \
    python -m venv /opt/venv; \
    if [ -f requirements.lock ]; then \
      /opt/venv/bin/pip install --no-compile --no-deps -r requirements.lock; \
    elif [ -f uv.lock ] && [ -f pyproject.toml ]; then \
      python -m venv /tmp/uv; \
      /tmp/uv/bin/pip install --no-compile "uv==${UV_VERSION}"; \
      /tmp/uv/bin/uv export --frozen --no-dev --no-emit-project --format requirements-txt -o /tmp/uv-requirements.txt; \
      /opt/venv/bin/pip install --no-compile --no-deps -r /tmp/uv-requirements.txt; \
    elif [ -f requirements.txt ]; then \
      /opt/venv/bin/pip install --no-compile -r requirements.txt; \
    else \
      echo "no requirements.lock, requirements.txt or pyproject.toml + uv.lock in the build context" >&2; exit 1; \
    fi; \
    if [ ! -x /opt/venv/bin/uvicorn ]; then \
      echo "uvicorn is not among the app's dependencies: add it to the dependency file" >&2; exit 1; \
    fi; \
    /opt/venv/bin/pip check; \
    /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib; \
    /opt/venv/bin/pip uninstall -y -q pip setuptools >/dev/null 2>&1 || true

# ---- runtime: the interpreter, the virtualenv and the application code; nothing else
FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
ARG APP_MODULE=app.main:app
ARG APP_SOURCES=app
ARG APP_PORT=8000
ARG HEALTH_PATH=/health
ARG READY_PATH=/ready
# A fixed numeric UID/GID so Kubernetes runAsUser/runAsNonRoot and file ownership line up.
RUN groupadd --system --gid "${APP_UID}" app \
 && useradd --uid "${APP_UID}" --gid "${APP_UID}" --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    HOME=/tmp \
    UVICORN_APP=${APP_MODULE} \
    UVICORN_PORT=${APP_PORT} \
    HEALTH_PATH=${HEALTH_PATH}
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
# Code is owned by root and read-only for the app user: the root filesystem can be mounted read-only;
# the only writable path is /tmp (an emptyDir in the chart).
COPY ${APP_SOURCES} ./${APP_SOURCES}
RUN python -m compileall -q /app
# Labels last: a new version or revision does not invalidate the layers above.
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="todo-backend" \
      org.opencontainers.image.description="Todo AI Chatbot backend: FastAPI, MCP task tools, chat agent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="dockerfiles/backend.Dockerfile" \
      org.todo-runbook.app-module="${APP_MODULE}" \
      org.todo-runbook.port="${APP_PORT}" \
      org.todo-runbook.health-path="${HEALTH_PATH}" \
      org.todo-runbook.ready-path="${READY_PATH}"
USER ${APP_UID}:${APP_UID}
EXPOSE ${APP_PORT}
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s%s' % (os.environ['UVICORN_PORT'], os.environ['HEALTH_PATH']), timeout=4).status == 200 else 1)"]
# Exec form: uvicorn is PID 1 and receives SIGTERM itself; graceful shutdown is bounded. The app and the
# port come from UVICORN_APP / UVICORN_PORT (uvicorn reads them), so a run can override them too.
ENTRYPOINT ["uvicorn", "--host", "0.0.0.0", "--timeout-graceful-shutdown", "5", "--no-server-header"]
