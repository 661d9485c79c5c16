#!/usr/bin/env bash
# Install the Debian packages the book needs, if any is missing (as root directly, otherwise
# with sudo). Used by `make book` / `make test` and by .ci/run.
#
#   scripts/system_packages.sh            what the book build needs
#   scripts/system_packages.sh --browser  ... and Chromium, for the browser tests
#
# dataset-fashion-mnist   Fashion-MNIST for the training chapters (/usr/share/datasets/fashion-mnist)
# python3-venv            `python3 -m venv` (Debian ships ensurepip separately)
# nodejs, npm             install the pinned JavaScript the pages load (package-lock.json)
# chromium                the browser tests (Debian's build; playwright never downloads one)
set -euo pipefail

wanted=(dataset-fashion-mnist)
[[ "${1:-}" == "--browser" ]] && wanted+=(chromium)
missing=()
for pkg in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
python3 -c "import ensurepip" 2>/dev/null || missing+=(python3-venv)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if (( ${#missing[@]} == 0 )); then
    echo "system packages: all present (${wanted[*]}, python3-venv, node, npm)"
    exit 0
fi
if [[ $(id -u) -eq 0 ]]; then
    sudo=()
elif command -v sudo >/dev/null; then
    sudo=(sudo)
else
    echo "system packages missing: ${missing[*]}; as root, run:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y "${missing[@]}"
