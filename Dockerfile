# syntax=docker/dockerfile:1
# One image per service, each with only its own dependencies, pinned by uv.lock:
#   docker build --target edge -t voice-edge .
#   docker build --target nova -t voice-nova .      (--build-arg NOVA_EXTRAS picks the engines)
#   docker build --target auth -t voice-auth .
#   docker build --target transcripts -t voice-transcripts .
#   docker build --target recordings -t voice-recordings .
#   docker build --target nats-auth -t voice-nats-auth .   (compose's NATS credentials; a dev tool)
# No credentials or keys are baked in: everything comes from the environment at run time.
#
# Each service installs its locked dependencies in a layer of its own, made from uv.lock and the
# pyproject.toml files alone, before any source is copied: a code change rebuilds only the small
# layer of the project's own code (the worker's dependency layer is about 700 MB with the offline
# engine). Downloads are kept in BuildKit cache mounts between builds.
#
# Base images are pinned by the digest of their multi-platform index. To move to a newer one:
#   docker buildx imagetools inspect python:3.12-slim-bookworm --format '{{json .Manifest.Digest}}'
# (likewise node:20-bookworm-slim), put tag and digest below, rebuild and run the checks.

ARG PYTHON_IMAGE=python:3.12.14-slim-bookworm@sha256:782412e85d0f0984994c290652577d4018aff08145c85b262bb63dc0c7522254
ARG NODE_IMAGE=node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0
ARG UV_VERSION=0.13.9
# Stamped into the images' OCI labels by the build (e.g. --build-arg REVISION=$(git rev-parse HEAD)).
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=""

# The web app, built once from its lockfile; the edge image serves it at /.
FROM ${NODE_IMAGE} AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY web/index.html web/vite.config.ts web/tsconfig.json web/tsconfig.worklet.json ./
COPY web/public public
COPY web/src src
RUN npm run typecheck && npm run build

# What uv needs to export one member's locked requirements: the lock and every member's
# pyproject.toml (the workspace's shape), no sources.
FROM ${PYTHON_IMAGE} AS workspace
ARG UV_VERSION
RUN --mount=type=cache,target=/root/.cache/pip pip install "uv==${UV_VERSION}"
ENV UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 UV_CACHE_DIR=/root/.cache/uv
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY proto/pyproject.toml proto/
COPY services/edge/pyproject.toml services/edge/
COPY services/nova/pyproject.toml services/nova/
COPY services/auth/pyproject.toml services/auth/
COPY services/transcripts/pyproject.toml services/transcripts/
COPY services/recordings/pyproject.toml services/recordings/
COPY examples/analytics/pyproject.toml examples/analytics/
COPY testkit/pyproject.toml testkit/
COPY dev/pyproject.toml dev/
COPY scripts/install_service.sh scripts/

# Each service alone, with exactly the locked versions of what it needs (scripts/install_service.sh):
# its dependencies first, then proto/ and its own code.
FROM workspace AS build-edge
RUN --mount=type=cache,target=/root/.cache/uv scripts/install_service.sh deps voice-edge
COPY proto proto
COPY services/edge services/edge
RUN scripts/install_service.sh project services/edge

FROM workspace AS build-nova
# The worker's engines: "--extra bedrock" (Amazon Nova Sonic, production), "--extra local" (the
# offline assistant, about 700 MB of speech models), or both.
ARG NOVA_EXTRAS="--extra bedrock"
RUN --mount=type=cache,target=/root/.cache/uv scripts/install_service.sh deps voice-nova ${NOVA_EXTRAS}
COPY proto proto
COPY services/nova services/nova
RUN scripts/install_service.sh project services/nova

FROM workspace AS build-auth
RUN --mount=type=cache,target=/root/.cache/uv scripts/install_service.sh deps voice-auth
COPY proto proto
COPY services/auth services/auth
RUN scripts/install_service.sh project services/auth

FROM workspace AS build-transcripts
RUN --mount=type=cache,target=/root/.cache/uv scripts/install_service.sh deps voice-transcripts
COPY proto proto
COPY services/transcripts services/transcripts
RUN scripts/install_service.sh project services/transcripts

FROM workspace AS build-recordings
RUN --mount=type=cache,target=/root/.cache/uv scripts/install_service.sh deps voice-recordings
COPY proto proto
COPY services/recordings services/recordings
RUN scripts/install_service.sh project services/recordings

FROM workspace AS build-nats-auth
RUN --mount=type=cache,target=/root/.cache/uv scripts/install_service.sh deps voice-dev
COPY proto proto
COPY dev dev
RUN scripts/install_service.sh project dev

FROM ${PYTHON_IMAGE} AS runtime
ARG PYTHON_IMAGE
ARG VERSION
ARG REVISION
ARG CREATED
ARG SOURCE
LABEL org.opencontainers.image.vendor="voice platform" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
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
LABEL org.opencontainers.image.title="voice-edge" \
      org.opencontainers.image.description="Browser WebSocket to NATS gateway of the voice platform, with the web app"
COPY --from=build-edge /opt/venv /opt/venv
COPY --from=web /web/dist /opt/web
ENV EDGE_HOST=0.0.0.0 EDGE_PORT=8000 EDGE_WEB_DIR=/opt/web
EXPOSE 8000
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["voice-edge"]

FROM runtime AS nova
LABEL org.opencontainers.image.title="voice-nova" \
      org.opencontainers.image.description="Speech worker of the voice platform (Amazon Nova Sonic or the offline engine)"
COPY --from=build-nova /opt/venv /opt/venv
ENV NOVA_HTTP_HOST=0.0.0.0 NOVA_HTTP_PORT=8081
EXPOSE 8081
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/health', timeout=2)"]
CMD ["voice-nova"]

FROM runtime AS auth
LABEL org.opencontainers.image.title="voice-auth" \
      org.opencontainers.image.description="Credential validation over NATS request/reply for the voice platform"
COPY --from=build-auth /opt/venv /opt/venv
ENV AUTH_HTTP_HOST=0.0.0.0 AUTH_HTTP_PORT=8082 AUTH_DEV_KEY_PATH=/data/auth-dev-key.pem
EXPOSE 8082
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8082/health', timeout=2)"]
CMD ["voice-auth"]

FROM runtime AS transcripts
LABEL org.opencontainers.image.title="voice-transcripts" \
      org.opencontainers.image.description="Durable transcript store and read API of the voice platform"
COPY --from=build-transcripts /opt/venv /opt/venv
ENV TRANSCRIPTS_HTTP_HOST=0.0.0.0 TRANSCRIPTS_HTTP_PORT=8083 \
    TRANSCRIPTS_DATABASE_URL=sqlite+aiosqlite:////data/transcripts.db
EXPOSE 8083
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8083/health', timeout=2)"]
CMD ["voice-transcripts"]

FROM runtime AS recordings
LABEL org.opencontainers.image.title="voice-recordings" \
      org.opencontainers.image.description="Conversation recorder (stereo Ogg Opus per session, NATS object store or S3) and its read API"
COPY --from=build-recordings /opt/venv /opt/venv
ENV RECORDINGS_HTTP_HOST=0.0.0.0 RECORDINGS_HTTP_PORT=8084
EXPOSE 8084
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8084/health', timeout=2)"]
CMD ["voice-recordings"]

# Makes (once) the NATS users and the development CA that compose's NATS and services share.
FROM runtime AS nats-auth
LABEL org.opencontainers.image.title="voice-nats-auth" \
      org.opencontainers.image.description="Development NATS credentials (NKEY users, CA) for the voice platform"
COPY --from=build-nats-auth /opt/venv /opt/venv
CMD ["voice-nats-auth", "init", "/data"]
