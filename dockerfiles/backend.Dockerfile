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
#
# The runtime stage starts FROM scratch with what the `rootfs` stage gathers from the base: the interpreter,
# the stdlib a server needs, the virtualenv as bytecode, the shared libraries they load (stripped), CA
# certificates and /etc/passwd with the app user. No shell, no pip, no package manager.
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
    /opt/venv/bin/pip uninstall -y -q pip setuptools >/dev/null 2>&1 || true

# ---- rootfs: everything the runtime stage holds, gathered from this base (cached apart from the deps)
FROM ${PYTHON_IMAGE} AS rootfs
ARG EXTRA_CA_CERTS
ARG APP_UID=10001
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The trust store is taken before the build-only CA is added, so that CA never reaches the runtime.
# binutils (strip) is used here only. DL3008 (pin apt versions) ignored: the package comes from the
# base's Debian suite at build time; exact versions would break with the suite's next security update.
# hadolint ignore=DL3008
RUN set -eu; \
    mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp; \
    cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/; \
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
    rm -rf /var/lib/apt/lists/*

COPY --from=deps /opt/venv /opt/venv
# The floor: the interpreter, the stdlib modules a server uses, the virtualenv as bytecode only, and the
# shared libraries those load (found with ldd), all stripped; no shell, no package manager, no pip.
# Bytecode keeps docstrings (no -OO: the agent SDK reads them) and line tables: a traceback names the
# file, line and function of every frame; source lines are printed for the app's own code (/app keeps
# its .py files) and are left out for the stdlib and dependencies.
ARG PRUNE_PACKAGES=watchfiles
RUN set -eu; \
    exe=$(python -c 'import os, sys; print(os.path.realpath(sys.executable))'); \
    stdlib=$(python -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])'); \
    site=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
    for pkg in $PRUNE_PACKAGES; do \
      rm -rf "${site:?}/$pkg" "${site:?}/$pkg"-*.dist-info; \
    done; \
    rm -f /opt/venv/bin/watchfiles; \
    find /opt/venv "$stdlib" -depth -type d \( -name tests -o -name test -o -name __pycache__ -o -name idle_test \) \
      -exec rm -rf {} +; \
    find /opt/venv -type f \( -name '*.c' -o -name '*.h' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pyi' \) -delete; \
    mkdir -p /rootfs/opt "/rootfs$stdlib"; \
    cp -a /opt/venv /rootfs/opt/; \
    tar -C "$stdlib" -cf - \
      --exclude=./idlelib --exclude=./tkinter --exclude=./turtledemo --exclude=./turtle.py --exclude=./ensurepip \
      --exclude=./lib2to3 --exclude=./pydoc_data --exclude=./venv --exclude=./config-3.* --exclude=./site-packages \
      --exclude=./dist-packages --exclude='./lib-dynload/_tkinter*' --exclude='./lib-dynload/_curses*' \
      --exclude='./lib-dynload/readline*' --exclude='./lib-dynload/_dbm*' --exclude='./lib-dynload/_gdbm*' \
      --exclude='./lib-dynload/_test*' --exclude='./lib-dynload/xx*' . | tar -C "/rootfs$stdlib" -xf -; \
    find "/rootfs$stdlib" -xtype l -delete; \
    python -m compileall -q -b -j 0 -s /rootfs -p / "/rootfs$stdlib" /rootfs/opt/venv/lib; \
    find "/rootfs$stdlib" /rootfs/opt/venv/lib -name '*.py' ! -path '*/os.py' -delete; \
    for link in /lib /lib64 /bin /sbin; do \
      if [ -L "$link" ]; then cp -a "$link" /rootfs/; fi; \
    done; \
    cp -a --parents "$exe" /rootfs/; \
    p=$(readlink /opt/venv/bin/python); \
    while [ -L "$p" ]; do \
      cp -a --parents "$p" /rootfs/; \
      t=$(readlink "$p"); case "$t" in /*) p=$t ;; *) p=$(dirname "$p")/$t ;; esac; \
    done; \
    { find "$exe" "/rootfs$stdlib/lib-dynload" /rootfs/opt/venv -type f \( -name '*.so*' -o -perm -u+x \) \
        -exec ldd {} + 2>/dev/null || true; } | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}' | sort -u > /tmp/libs; \
    for lib in $(cat /tmp/libs) $(ls /lib/x86_64-linux-gnu/libgcc_s.so.1 2>/dev/null || true); do \
      case "$lib" in /opt/venv/*|/rootfs/*) continue ;; esac; \
      dir=$(readlink -f "$(dirname "$lib")"); mkdir -p "/rootfs$dir"; \
      cp -L "$lib" "/rootfs$dir/$(basename "$lib")"; \
    done; \
    find /rootfs -type f \( -name '*.so' -o -name '*.so.*' \) -exec strip --strip-unneeded {} + ; \
    strip --strip-unneeded "/rootfs$exe"; \
    cp /etc/ld.so.cache /rootfs/etc/; \
    chroot /rootfs /opt/venv/bin/python -B -c 'import ctypes, decimal, hashlib, json, lzma, bz2, ssl, zlib, uvicorn'

# ---- runtime: from scratch; the gathered root filesystem and the application code, nothing else
FROM scratch AS runtime
ARG APP_UID=10001
ARG APP_MODULE=app.main:app
ARG APP_SOURCES=app
ARG APP_PORT=8000
ARG HEALTH_PATH=/health
ARG READY_PATH=/ready
COPY --from=rootfs /rootfs /
# A fixed numeric UID/GID (in /etc/passwd as `app`) so Kubernetes runAsUser/runAsNonRoot and file
# ownership line up.
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    LANG=C.UTF-8 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    HOME=/tmp \
    UVICORN_APP=${APP_MODULE} \
    UVICORN_PORT=${APP_PORT} \
    HEALTH_PATH=${HEALTH_PATH}
WORKDIR /app
# Code is owned by root and read-only for the app user: the root filesystem can be mounted read-only;
# the only writable path is /tmp (an emptyDir in the chart).
COPY ${APP_SOURCES} ./${APP_SOURCES}
RUN ["python", "-m", "compileall", "-q", "/app"]
# Labels last: a new version or revision does not invalidate the layers above. base.name: the image the
# runtime's files were taken from (the runtime itself starts from scratch).
ARG PYTHON_IMAGE
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.base.name="${PYTHON_IMAGE}" \
      org.opencontainers.image.title="todo-backend" \
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
# port come from UVICORN_APP / UVICORN_PORT (uvicorn reads them), so a run can override them too. The h11 parser
# refuses (400, connection closed) a header block that grows past 32 KiB before the app sees it; httptools, the
# default, would buffer any size. The app's own limit (MAX_HEADER_BYTES, 431) lies below it.
ENTRYPOINT ["uvicorn", "--host", "0.0.0.0", "--timeout-graceful-shutdown", "5", "--no-server-header", "--http", "h11", "--h11-max-incomplete-event-size", "32768"]
