# The app image for docker-compose.yml: the Ray head, `tiering launch` and the producer.
FROM python:3.11-slim-bookworm
WORKDIR /srv/tiering
COPY pyproject.toml README.md ./
COPY domain domain
COPY shards shards
COPY actors actors
COPY adapters adapters
COPY projections projections
COPY web web
COPY ml ml
COPY ingest ingest
COPY simulation simulation
COPY services services
COPY devstack devstack
COPY tiering_app tiering_app
COPY tiering tiering
RUN pip install --no-cache-dir ".[dashboard]" && useradd --create-home tiering \
    && mkdir -p /var/lib/tiering && chown tiering /var/lib/tiering
USER tiering
ENV RAY_AUTH_MODE=token PYTHONUNBUFFERED=1
