# Sourced by scripts/quickstart and .ci/install-deps: pantau's Python environment.
#
# Debian 12 refuses `pip install` outside a virtual environment (PEP 668), so pantau lives in a venv
# made with Debian's own python3: $PANTAU_VENV, by default /opt/pantau/venv. That folder is readable
# by every user (the tests start SNMP simulators and agents as user nobody, which cannot enter /root)
# and survives `git clean`. `sudo` drops an activated venv: call $PANTAU_VENV/bin/pantau by its path.

PANTAU_VENV=${PANTAU_VENV:-/opt/pantau/venv}
PANTAU_PYTHON=${PANTAU_PYTHON:-/usr/bin/python3}
export DEBIAN_FRONTEND=noninteractive

say() { printf '\n==> %s %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# apt_install PKG...: installs the Debian packages not installed yet, with apt's own progress.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "pantau: Debian packages missing: ${missing[*]}" >&2
    echo "  install them as root (apt-get install ${missing[*]}) or run this script as root" >&2
    exit 1
  fi
  say "installing Debian packages (apt-get): ${missing[*]}"
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
}

# ensure_venv: makes $PANTAU_VENV with Debian's python3 unless it works already.
ensure_venv() {
  apt_install python3 python3-venv ca-certificates
  if [ -x "$PANTAU_VENV/bin/python" ] && "$PANTAU_VENV/bin/python" -m pip --version >/dev/null 2>&1
  then
    say "using the Python environment $PANTAU_VENV"
    return 0
  fi
  # a half-made venv (python3-venv was missing, or an interrupted run) is replaced, not reused;
  # anything else at that path is left alone
  if [ -e "$PANTAU_VENV" ]; then
    if [ ! -f "$PANTAU_VENV/pyvenv.cfg" ]; then
      echo "pantau: $PANTAU_VENV exists and is no Python environment; set PANTAU_VENV elsewhere" >&2
      exit 1
    fi
    say "replacing the unfinished Python environment $PANTAU_VENV"
    rm -rf "$PANTAU_VENV"
  fi
  if ! mkdir -p "$(dirname "$PANTAU_VENV")" 2>/dev/null || ! [ -w "$(dirname "$PANTAU_VENV")" ]; then
    echo "pantau: cannot write $(dirname "$PANTAU_VENV"); run as root, or choose another place:" >&2
    echo "  PANTAU_VENV=\$HOME/.local/share/pantau/venv bash $0" >&2
    exit 1
  fi
  say "creating the Python environment $PANTAU_VENV ($("$PANTAU_PYTHON" --version))"
  "$PANTAU_PYTHON" -m venv "$PANTAU_VENV"
}

# venv_pip ARGS...: pip of the venv, showing what it downloads and installs.
venv_pip() {
  "$PANTAU_VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar on "$@"
}
