# syntax=docker/dockerfile:1
# One image per service, each with only its own dependencies, pinned by uv.lock:
#   docker build --target edge -t voice-edge .
#   docker build --target nova -t voice-nova .      (NOVA_EXTRAS picks the engines)
#   docker build --target auth -t voice-auth .
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
COPY dev dev
COPY testkit testkit
ENV UV_PYTHON_DOWNLOADS=never

# Installs one workspace member and exactly the locked versions of what it needs into /opt/venv.
FROM workspace AS build-edge
RUN uv export --frozen --no-dev --no-emit-workspace --package voice-edge -o /tmp/requirements.txt \
 && uv venv /opt/venv --python /usr/local/bin/python3 \
 && uv pip install --python /opt/venv/bin/python --no-cache -r /tmp/requirements.txt \
 && uv pip install --python /opt/venv/bin/python --no-cache --no-deps ./proto ./services/edge

FROM workspace AS build-nova
# Extras of voice-nova to install, e.g. "--extra bedrock" for the production engine.
ARG NOVA_EXTRAS=""
RUN uv export --frozen --no-dev --no-emit-workspace --package voice-nova ${NOVA_EXTRAS} -o /tmp/requirements.txt \
 && uv venv /opt/venv --python /usr/local/bin/python3 \
 && uv pip install --python /opt/venv/bin/python --no-cache -r /tmp/requirements.txt \
 && uv pip install --python /opt/venv/bin/python --no-cache --no-deps ./proto ./services/nova

FROM workspace AS build-auth
RUN uv export --frozen --no-dev --no-emit-workspace --package voice-auth -o /tmp/requirements.txt \
 && uv venv /opt/venv --python /usr/local/bin/python3 \
 && uv pip install --python /opt/venv/bin/python --no-cache -r /tmp/requirements.txt \
 && uv pip install --python /opt/venv/bin/python --no-cache --no-deps ./proto ./services/auth

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --system --uid 10001 --no-create-home voice
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
ENV AUTH_HTTP_HOST=0.0.0.0 AUTH_HTTP_PORT=8082
EXPOSE 8082
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8082/health', timeout=2)"]
CMD ["voice-auth"]
