#!/bin/sh
# Installs one workspace member, with exactly the locked versions of what it needs and nothing
# else, into a virtual environment, in two steps so that an image keeps its dependencies in a
# layer of their own (a code change does not reinstall them):
#
#   scripts/install_service.sh deps <package> [uv export options, e.g. --extra bedrock]
#       the locked third-party dependencies; needs only uv.lock and the pyproject.toml files
#   scripts/install_service.sh project <folder>
#       proto/ and the member's own code, without dependencies
#   scripts/install_service.sh all <package> <folder> [uv export options]
#       both (tests/test_packaging.py runs this, so an image can never lack a dependency the
#       workspace hides)
#
# VENV (default /opt/venv) and PYTHON (default /usr/local/bin/python3) say where and with what.
set -eu
step=$1
shift
venv=${VENV:-/opt/venv}

deps() {
  package=$1
  shift
  requirements=$(mktemp)
  uv export --frozen --no-dev --no-emit-workspace --package "$package" "$@" -o "$requirements" >/dev/null
  uv venv --quiet --allow-existing "$venv" --python "${PYTHON:-/usr/local/bin/python3}"
  uv pip install --quiet --python "$venv/bin/python" --require-hashes -r "$requirements"
  rm -f "$requirements"
}

project() {
  uv pip install --quiet --python "$venv/bin/python" --no-deps ./proto "./$1"
}

case "$step" in
  deps) deps "$@" ;;
  project) project "$1" ;;
  all)
    package=$1
    folder=$2
    shift 2
    deps "$package" "$@"
    project "$folder"
    ;;
  *) echo "usage: $0 deps <package> [options] | project <folder> | all <package> <folder> [options]" >&2; exit 2 ;;
esac
