#!/bin/sh
# Installs one workspace member, with exactly the locked versions of what it needs and nothing
# else, into a fresh virtual environment. The Dockerfile builds every service image with it;
# tests/test_packaging.py runs it too, so an image can never lack a dependency the workspace hides.
#
#   scripts/install_service.sh <package> <folder> [uv export options, e.g. --extra bedrock]
#
# VENV (default /opt/venv) and PYTHON (default /usr/local/bin/python3) say where and with what.
set -eu
package=$1
folder=$2
shift 2
venv=${VENV:-/opt/venv}
requirements=$(mktemp)
uv export --frozen --no-dev --no-emit-workspace --package "$package" "$@" -o "$requirements" >/dev/null
uv venv --quiet "$venv" --python "${PYTHON:-/usr/local/bin/python3}"
uv pip install --quiet --python "$venv/bin/python" -r "$requirements"
uv pip install --quiet --python "$venv/bin/python" --no-deps ./proto "./$folder"
rm -f "$requirements"
