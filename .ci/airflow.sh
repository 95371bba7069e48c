#!/usr/bin/env bash
# Apache Airflow in its own virtualenv, to import the generated Cloud Composer DAG with Airflow's
# own DagBag (tests/test_airflow_dag.py, marker `airflow`). Airflow is heavy and pins old Flask and
# SQLAlchemy: it must never become a dependency of kcrm-gov, so it lives apart.
#
#   bash .ci/airflow.sh install VENV_DIR     create VENV_DIR with the pinned Airflow (idempotent)
#   bash .ci/airflow.sh python  VENV_DIR     print the venv's python (for KCRM_GOV_AIRFLOW_PYTHON)
#
# Airflow's official constraints file lives on GitHub, which CI cannot reach (only the package
# registries are reachable), so the key dependencies are pinned here instead: the set below was
# measured to install and import together on Python 3.11.
set -euo pipefail

AIRFLOW_PKGS=(
  "apache-airflow==2.10.5"
  "SQLAlchemy==1.4.54"
  "Flask==2.2.5"
  "Werkzeug==2.2.3"
  "flask-appbuilder==4.5.3"
  "connexion==2.14.2"
  "pendulum==3.0.0"
  "marshmallow==3.26.1"
  "pydantic==2.11.7"
)
PYTHON="${AIRFLOW_PYTHON:-python3}"

usage() {
  sed -n '2,8p' "$0" >&2
  exit 2
}

cmd_install() {
  local venv="${1:?VENV_DIR}"
  venv="$(mkdir -p "$venv" && cd "$venv" && pwd)"
  if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
  fi
  if ! "$venv/bin/python" - "${AIRFLOW_PKGS[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, _, want = spec.partition("==")
    if version(name) != want:
        sys.exit(1)
PY
  then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${AIRFLOW_PKGS[@]}"
  fi
  # a smoke import, with Airflow's state kept inside the venv (never ~/airflow)
  AIRFLOW_HOME="$venv/airflow-home" AIRFLOW__CORE__LOAD_EXAMPLES=False \
    "$venv/bin/python" -c "import airflow; from airflow.models import DagBag; print('airflow', airflow.__version__)"
}

case "${1:-}" in
  install) shift; cmd_install "$@" ;;
  python) shift; d="${1:?VENV_DIR}"; echo "$(cd "$d" && pwd)/bin/python" ;;
  *) usage ;;
esac
