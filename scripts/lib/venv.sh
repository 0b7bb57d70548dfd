# Sourced by scripts/run and scripts/test: make .venv and install the package into it.
# Reinstalls only when setup.cfg or pyproject.toml changed since the last install.

ensure_venv() {
  local extras="${1:-}"
  local root venv python want stamp
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  venv="${WXB_VENV:-$root/.venv}"
  python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "wx-backend needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    exit 1
  fi
  if [ ! -x "$venv/bin/python" ]; then
    echo "creating virtualenv in $venv" >&2
    "$python" -m venv "$venv"
  fi
  want="$(cat "$root/setup.cfg" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  stamp="$venv/.wxb-installed${extras:+-$extras}"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing wx-backend${extras:+[$extras]} into $venv" >&2
    if ! { "$venv/bin/python" -m pip install --disable-pip-version-check --upgrade pip &&
           "$venv/bin/python" -m pip install --disable-pip-version-check \
             -e "$root${extras:+[$extras]}"; } >"$venv/install.log" 2>&1; then
      cat "$venv/install.log" >&2
      echo "installation failed (log above, also in $venv/install.log)" >&2
      exit 1
    fi
    echo "$want" > "$stamp"
  fi
  VENV="$venv"
}
