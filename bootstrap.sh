#!/usr/bin/env bash
# Sets up everything daert needs on this machine: system packages (when root), Python 3.12,
# the virtualenv in .venv and the project with its extras. Idempotent; quick the second time.
#   DAERT_PYTHON=/path/to/python3.12   use this interpreter
#   DAERT_EXTRAS=...                   extras to install (default: embedded,local-embeddings,sandbox,crew,dev)
# Versions come from uv.lock; `make lock` upgrades them on purpose.
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
EXTRAS="${DAERT_EXTRAS:-embedded,local-embeddings,sandbox,crew,dev}"
say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$1" >&2; [ -n "${2:-}" ] && printf '  hint: %s\n' "$2" >&2; exit 2; }

# --- system packages -------------------------------------------------------------------------
# bubblewrap: the local code sandbox; cmake + g++: llama-cpp-python builds from source;
# Java 17 + Maven: the real Neo4j server the tests start.
need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v make >/dev/null 2>&1 || need_apt+=(make)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing system packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    say "missing system packages: ${need_apt[*]} — install them with: sudo apt-get install ${need_apt[*]}"
  fi
fi

# --- Python 3.12 ------------------------------------------------------------------------------
ok_python() { "$1" -c 'import sys; raise SystemExit(sys.version_info < (3, 12))' 2>/dev/null; }
find_python() {
  local candidates=()
  [ -n "${DAERT_PYTHON:-}" ] && candidates+=("$DAERT_PYTHON")
  candidates+=(python3.12 python3.13 python3)
  if command -v pyenv >/dev/null 2>&1; then
    local root; root="$(pyenv root)"
    for p in "$root"/versions/3.12*/bin/python3.12 "$root"/versions/3.13*/bin/python3.13; do
      [ -x "$p" ] && candidates+=("$p")
    done
  fi
  for p in "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do
    [ -x "$p" ] && candidates+=("$p")
  done
  for c in "${candidates[@]}"; do
    local path; path="$(command -v "$c" 2>/dev/null || true)"
    if [ -n "$path" ] && ok_python "$path"; then echo "$path"; return 0; fi
  done
  return 1
}

# --- uv, pinned: it installs exactly what uv.lock says --------------------------------------
# uv over pip: one lock for every extra and platform (uv.lock), an install that refuses a lock
# out of date with pyproject.toml, and a parallel, cached install several times faster.
UV_VERSION=0.13.9
UV_DIR=.tools/uv-$UV_VERSION
UV="$UV_DIR/bin/uv"
export UV_PYTHON_DOWNLOADS=never      # use the Python found here; never fetch a managed one
if [ ! -x "$UV" ]; then
  if command -v uv >/dev/null 2>&1 && [ "$(uv --version | cut -d' ' -f2)" = "$UV_VERSION" ]; then
    UV="$(command -v uv)"
  else
    PY="$(find_python)" || die "daert needs Python >= 3.12 and none was found (python3 is $(python3 --version 2>&1 || echo missing))" \
      "install it (\`apt-get install python3.12 python3.12-venv\` or \`pyenv install 3.12\`), or set DAERT_PYTHON=/path/to/python3.12"
    say "installing uv $UV_VERSION into $UV_DIR"
    "$PY" -m pip install -q --disable-pip-version-check --target "$UV_DIR" "uv==$UV_VERSION" \
      || die "could not install uv $UV_VERSION with $PY -m pip" "install pip for $PY, or put uv $UV_VERSION on PATH"
  fi
fi

mkdir -p .tools && ln -sfn "$(cd "$(dirname "$UV")" && pwd)/uv" .tools/uv   # for `make lock`

# --- Python 3.12 virtualenv --------------------------------------------------------------------
if [ -x "$VENV/bin/python" ] && ! ok_python "$VENV/bin/python"; then
  say "$VENV uses $("$VENV/bin/python" --version 2>&1); recreating it with Python 3.12"
  rm -rf "$VENV"
fi
if [ -x "$VENV/bin/python" ]; then
  PY="$VENV/bin/python"
else
  PY="$(find_python)" || die "daert needs Python >= 3.12 and none was found (python3 is $(python3 --version 2>&1 || echo missing))" \
    "install it (\`apt-get install python3.12 python3.12-venv\` or \`pyenv install 3.12\`), or set DAERT_PYTHON=/path/to/python3.12"
fi

# --- the project, from the lock ------------------------------------------------------------------
extra_args=()
IFS=',' read -r -a extras <<< "$EXTRAS"
for e in "${extras[@]}"; do [ -n "$e" ] && extra_args+=(--extra "$e"); done
say "syncing $VENV with uv.lock: daert[$EXTRAS] (the first time builds Redis+FalkorDB and llama.cpp, ~8 min on 2 cores, and downloads PyTorch; cached after)"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
# --locked: stop when pyproject.toml and uv.lock disagree (run `make lock` to upgrade on purpose).
# --compile-bytecode: as pip does, so that no command compiles the libraries it imports on
# every start (where PYTHONDONTWRITEBYTECODE is set, nothing else would); ~50 s the first time.
"$UV" sync --locked --compile-bytecode --python "$PY" "${extra_args[@]}" \
  || die "installing daert[$EXTRAS] from uv.lock failed" \
    "if it says the lock needs updating, run \`make lock\` and commit uv.lock; otherwise the lines above say which package failed"
