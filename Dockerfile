# One image for the web, worker and migration containers of docker-compose.yml.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# What `pip install .` reads, then one COPY per top-level package of setup.cfg (a COPY of several
# directories would merge their contents). tests/test_truyvet/test_packaging.py keeps this list
# equal to the packages in the repository.
COPY pyproject.toml setup.cfg README.md ./
COPY config config
COPY truyvet truyvet
COPY ingest ingest
COPY streams streams
COPY tracing tracing
COPY warehouse warehouse
COPY webapp webapp
# Servers talk to ClickHouse over HTTP: the embedded engine (extra "embedded") is left out.
RUN pip install --no-compile . \
 && useradd --system --uid 10001 --home-dir /app truyvet \
 && mkdir -p /app/var && chown truyvet /app/var
USER truyvet
ENV TRUYVET_DATA_DIR=/app/var
