# Sourced by ./run and ./check. Finds a Python >= 3.12 on its own (the machine's default
# python3 may be older), installs a pinned uv beside the project, and syncs the workspace
# from uv.lock into .venv; builds the web app (npm, from web/package-lock.json) and, for the
# browser tests, installs Debian's chromium when it is missing. Nothing outside the package
# registries is contacted.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV_VERSION="0.13.9"
TOOLS="$ROOT/.cache/bootstrap"
export UV_PYTHON_DOWNLOADS=never          # never fetch interpreters from the internet
export UV_PROJECT_ENVIRONMENT="$ROOT/.venv"
export UV_CACHE_DIR="${UV_CACHE_DIR:-$HOME/.cache/uv}"

python_ok() {
  "$1" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
  local cand path
  # 3.12 first: every native wheel the speech stack needs exists for it.
  for cand in "${PYTHON:-}" python3.12 \
      $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3 2>/dev/null | sort -rV) \
      python3.13 python3.14 python3 \
      $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*/bin/python3 2>/dev/null | sort -rV) \
      /usr/local/bin/python3 /usr/bin/python3; do
    [ -n "$cand" ] || continue
    path="$(command -v "$cand" 2>/dev/null)" || continue
    if python_ok "$path"; then
      echo "$path"
      return 0
    fi
  done
  return 1
}

ensure_uv() {
  if [ ! -x "$TOOLS/bin/uv" ] || [ "$("$TOOLS/bin/uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    echo "==> installing uv $UV_VERSION into $TOOLS" >&2
    rm -rf "$TOOLS"
    "$PY" -m venv "$TOOLS"
    "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  UV="$TOOLS/bin/uv"
}

sync_workspace() {
  echo "==> syncing the workspace into .venv (Python: $PY)" >&2
  "$UV" sync --locked --all-packages --python "$PY" --quiet
  VENV="$ROOT/.venv"
  export PATH="$VENV/bin:$PATH"
}

# The web app in web/dist, which the edge serves at /. Reinstalled when the lockfile changed,
# rebuilt when a source is newer than the last build.
build_web() {
  local web="$ROOT/web"
  command -v npm >/dev/null 2>&1 || {
    echo "error: the web app needs Node.js >= 20.19 with npm; install them and try again" >&2
    exit 1
  }
  if [ ! -f "$web/node_modules/.package-lock.json" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
    echo "==> installing the web app's packages (npm ci)" >&2
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if [ ! -f "$web/dist/index.html" ] || [ -n "$(find "$web/src" "$web/public" "$web/index.html" "$web/package-lock.json" \
      "$web/vite.config.ts" "$web"/tsconfig*.json -newer "$web/dist/index.html" -print -quit)" ]; then
    echo "==> building the web app into web/dist" >&2
    (cd "$web" && npm run --silent build -- --logLevel warn)
  fi
}

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser).
ensure_chromium() {
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's chromium for the browser tests" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: no chromium at ${CHROMIUM_PATH:-/usr/bin/chromium}: the browser tests will be skipped" \
      "(install Debian's chromium package, or set CHROMIUM_PATH)" >&2
  fi
}

PY="$(find_python)" || {
  echo "error: no Python >= 3.12 found; install one (e.g. pyenv install 3.12) or set PYTHON=/path/to/python3.12" >&2
  exit 1
}
ensure_uv
cd "$ROOT"
