# The web image: Flask app, migrations and gunicorn; no compilers, no secrets.
# Base images come from build arguments, so that a registry mirror can replace
# the official ones (PYTHON_IMAGE=mirror.example/python:3.13-slim).
ARG PYTHON_IMAGE=python:3.13-slim
# The uv that installs uv.lock; the Makefile reads its version from here (make lock, make e2e).
ARG UV_VERSION=0.13.9

# --- build: install exactly what uv.lock pins (with its hashes) into a venv ----
FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    UV_PROJECT_ENVIRONMENT=/venv UV_NO_CACHE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never NO_COLOR=1
# strip: compiled modules (SQLAlchemy's) ship with debug symbols the image does not need.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends binutils \
 && rm -rf /var/lib/apt/lists/*
# uv stays in this stage: the runtime stage copies only /venv (which has no pip either).
RUN pip install "uv==${UV_VERSION}"
WORKDIR /src
# Only the dependency declarations first, so a code change does not reinstall them.
# --frozen: install the lock as it is, never re-resolve (make lock-check keeps it current).
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --compile-bytecode \
 && find /venv -name '*.cpython-*.so' -exec strip --strip-unneeded {} +

# --- runtime: what production runs -------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent app
COPY --from=build /venv /venv
WORKDIR /app
COPY alembic.ini entrypoint.sh ./
COPY migrations migrations
COPY web web
# Byte-compile as root: the app user cannot write here, and compiled modules start faster.
RUN python -m compileall -q web migrations
# Numeric, so that orchestrators can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
# 8000: the app; 9000: /metrics (METRICS_PORT), for Prometheus on the container network only.
EXPOSE 8000 9000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "web.container.healthcheck"]
ENTRYPOINT ["/app/entrypoint.sh"]
CMD ["gunicorn", "--config", "python:web.container.gunicorn_conf", "web.container.wsgi:app"]

# --- tools: runtime plus test and lint tools (make test, make lint, make revision)
FROM build AS build-tools
RUN uv sync --frozen --group dev --no-install-project --compile-bytecode

FROM runtime AS tools
# git for pre-commit (make pre-commit) and the base-ref tests; uv for the lock check hook.
USER 0:0
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends git \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/uv /usr/local/bin/uv
USER 10001:10001
COPY --from=build-tools /venv /venv
COPY pyproject.toml conftest.py ./
COPY harness harness
COPY tests tests
# make test mounts the repository at /app over these, so its working tree is what runs.
# Text logs: the tools container is for people (the server's default is JSON).
ENV HOME=/tmp PYTHONPATH=/app LOG_FORMAT=text
CMD ["pytest"]

# --- browser: Debian's Chromium driven by Playwright, for the API page's test (make e2e).
# Built on demand by e2e/test_api_page.py; holds no code of the project.
FROM build AS build-browser
RUN UV_PROJECT_ENVIRONMENT=/browser uv sync --frozen --only-group browser --no-install-project

FROM ${PYTHON_IMAGE} AS browser
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-liberation \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build-browser /browser /venv
ENV PATH=/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 HOME=/tmp
USER 10001:10001
