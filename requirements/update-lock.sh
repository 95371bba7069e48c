#!/usr/bin/env bash
# Regenerates requirements/lock.txt: every package kcrm-gov and its `dev` extra install, pinned,
# for CPython 3.11 on Linux x86_64. The README installs with it as constraints
# (`pip install -c requirements/lock.txt -e '.[dev]'`), so any pip, old or new, and uv resolve
# without backtracking through datacontract-cli + soda-core + google-cloud.
#
#   requirements/update-lock.sh                          after changing pyproject.toml's dependencies
#   requirements/update-lock.sh --upgrade-package NAME   move one transitive package
#   requirements/update-lock.sh --upgrade                move everything the pins allow
#
# Existing pins are kept unless pyproject.toml or an --upgrade flag asks otherwise. uv is pinned
# here and installed into a side virtualenv (KCRM_GOV_UV_VENV) so every run uses the same resolver.
set -euo pipefail
UV_VERSION=0.13.9
cd "$(dirname "$0")/.."

uvvenv="${KCRM_GOV_UV_VENV:-$HOME/.cache/kcrm-gov/uv-$UV_VERSION}"
if [ "$("$uvvenv/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  python3 -m venv "$uvvenv"
  "$uvvenv/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

# --python-version 3.11 is 3.11.0 and up: a pin that needs a later 3.11.x (pymdown-extensions 13
# needs 3.11.5) is held back, so the lock installs on every 3.11.
"$uvvenv/bin/uv" pip compile pyproject.toml --extra dev \
  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
  --custom-compile-command requirements/update-lock.sh \
  --quiet --output-file requirements/lock.txt "$@"

# uv's header names the command; add the uv that ran it.
sed -i "2a # uv $UV_VERSION (pinned in requirements/update-lock.sh), CPython 3.11, Linux x86_64. Used as constraints: pip install -c requirements/lock.txt -e '.[dev]'" requirements/lock.txt
