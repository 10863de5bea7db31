# syntax=docker/dockerfile:1
# The scaled shape: `nwatch serve` (and `nwatch worker`) against PostgreSQL + Redis.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY app ./app
RUN pip install -c requirements.lock .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /srv nw
COPY --from=build /opt/venv /opt/venv
COPY migrations /srv/migrations
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NW_MIGRATIONS_DIR=/srv/migrations \
    NW_VAR_DIR=/srv/var \
    NW_LOG_FORMAT=json
WORKDIR /srv
USER nw
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
# Run `nwatch migrate` once per release (e.g. a job or init container) before serving.
CMD ["nwatch", "serve", "--host", "0.0.0.0", "--port", "8000"]
