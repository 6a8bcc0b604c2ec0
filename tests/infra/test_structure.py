"""Structural checks over the module as parsed by python-hcl2."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra.tfhelpers import blocks, load_module, variables

H200_TYPES = {"p5en.48xlarge", "p5e.48xlarge"}


@pytest.fixture(scope="module")
def module() -> dict[str, list[Any]]:
    return load_module()


def test_no_ingress_from_anywhere(module: dict[str, list[Any]]) -> None:
    rules = blocks(module, "resource", "aws_vpc_security_group_ingress_rule")
    assert rules, "expected ingress rules"
    for name, rule in rules.items():
        for key in ("cidr_ipv4", "cidr_ipv6"):
            value = str(rule.get(key, ""))
            assert value not in ("0.0.0.0/0", "::/0"), f"{name} admits {value}"
        # Every rule admits either a named security group or the caller-given CIDR blocks.
        assert "referenced_security_group_id" in rule or "var.allowed_cidrs" in str(
            rule.get("for_each")
        ), name
    assert not blocks(module, "resource", "aws_security_group_rule"), "use per-rule resources"
    for name, group in blocks(module, "resource", "aws_security_group").items():
        assert "ingress" not in group, f"{name} declares inline ingress"


def test_node_ingress_only_from_the_load_balancer(module: dict[str, list[Any]]) -> None:
    rule = blocks(module, "resource", "aws_vpc_security_group_ingress_rule")["node_from_nlb"]
    assert rule["referenced_security_group_id"] == "${aws_security_group.nlb.id}"


def test_node_egress_is_https_only(module: dict[str, list[Any]]) -> None:
    egress = blocks(module, "resource", "aws_vpc_security_group_egress_rule")
    node_rules = [
        r for r in egress.values() if "aws_security_group.node.id" in r["security_group_id"]
    ]
    assert [(r["from_port"], r["to_port"], r["ip_protocol"]) for r in node_rules] == [
        (443, 443, "tcp")
    ]


def test_imdsv2_required_and_no_hop_for_containers(module: dict[str, list[Any]]) -> None:
    template = blocks(module, "resource", "aws_launch_template")["node"]
    (metadata,) = template["metadata_options"]
    assert metadata["http_tokens"] == "required"
    assert metadata["http_endpoint"] == "enabled"
    assert metadata["http_put_response_hop_limit"] == 1


def test_every_ebs_volume_encrypted(module: dict[str, list[Any]]) -> None:
    template = blocks(module, "resource", "aws_launch_template")["node"]
    mappings = template["block_device_mappings"]
    assert mappings
    for mapping in mappings:
        for ebs in mapping["ebs"]:
            assert ebs["encrypted"] is True
            assert ebs["volume_type"] == "gp3"


def test_ami_comes_from_the_dlami_ssm_parameter(module: dict[str, list[Any]]) -> None:
    template = blocks(module, "resource", "aws_launch_template")["node"]
    assert "data.aws_ssm_parameter.ami" in template["image_id"]
    default = variables(module)["ami_ssm_parameter"]["default"]
    assert default == (
        "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"
    )


def test_all_capacity_is_spot_capacity_optimized(module: dict[str, list[Any]]) -> None:
    group = blocks(module, "resource", "aws_autoscaling_group")["node"]
    (policy,) = group["mixed_instances_policy"]
    (distribution,) = policy["instances_distribution"]
    assert distribution["spot_allocation_strategy"] == "capacity-optimized"
    assert distribution["on_demand_base_capacity"] == 0
    assert distribution["on_demand_percentage_above_base_capacity"] == 0
    assert "var.spot_max_price" in distribution["spot_max_price"]
    assert group["capacity_rebalance"] is True


def test_instance_type_validation_lists_exactly_the_h200_types(
    module: dict[str, list[Any]],
) -> None:
    variable = variables(module)["instance_types"]
    (validation,) = variable["validation"]
    listed = set(re.findall(r'"(p[0-9a-z]+\.[0-9a-z]+)"', validation["condition"]))
    assert listed == H200_TYPES
    assert set(variable["default"]) <= H200_TYPES
    locals_ = {k: v for entry in module["locals"] for k, v in entry.items()}
    gpus = locals_["gpus_by_instance_type"]
    assert gpus == {"p5en.48xlarge": 8, "p5e.48xlarge": 8}


def test_gpus_per_replica_validation_and_precondition(module: dict[str, list[Any]]) -> None:
    variable = variables(module)["gpus_per_replica"]
    assert variable["default"] == 4
    (validation,) = variable["validation"]
    assert validation["condition"] == "${contains([2, 4, 8], var.gpus_per_replica)}"
    template = blocks(module, "resource", "aws_launch_template")["node"]
    conditions = [p["condition"] for p in template["lifecycle"][0]["precondition"]]
    assert "${local.node_gpus % var.gpus_per_replica == 0}" in conditions


def _iam_statements(module: dict[str, list[Any]]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for document in blocks(module, "data", "aws_iam_policy_document").values():
        statements.extend(document.get("statement", []))
        for dynamic in document.get("dynamic", []):
            for content in dynamic["statement"]["content"]:
                statements.append(content)
    return statements


def test_iam_has_no_wildcard_actions_or_resources(module: dict[str, list[Any]]) -> None:
    statements = _iam_statements(module)
    assert len(statements) >= 6
    for statement in statements:
        for action in statement.get("actions", []):
            assert "*" not in action, statement
        for resource in statement.get("resources", []):
            assert resource != "*", statement
            assert not resource.startswith("arn:aws:*"), statement
        assert statement.get("effect", "Allow") == "Allow"


def test_iam_scopes(module: dict[str, list[Any]]) -> None:
    by_sid = {s["sid"]: s for s in _iam_statements(module)}
    assert by_sid["ReadWeightsObjects"]["actions"] == ["s3:GetObject"]
    assert by_sid["ReadWeightsObjects"]["resources"][0].endswith(
        "${var.weights_bucket}/${var.weights_prefix}/*"
    )
    listing = by_sid["ListWeightsPrefix"]
    assert listing["actions"] == ["s3:ListBucket"]
    assert listing["condition"][0]["variable"] == "s3:prefix"
    assert by_sid["ReadApiKey"]["resources"] == ["${var.api_key_arn}"]
    assert set(by_sid["WriteEngineLogs"]["actions"]) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert by_sid["WriteEngineLogs"]["resources"] == [
        "${aws_cloudwatch_log_group.engine.arn}:log-stream:*"
    ]
    assert by_sid["RegisterOwnReplicas"]["resources"] == ["${aws_lb_target_group.engine.arn}"]


def test_load_balancer_is_internal_with_health_on_health(module: dict[str, list[Any]]) -> None:
    lb = blocks(module, "resource", "aws_lb")["engine"]
    assert lb["internal"] is True
    assert lb["load_balancer_type"] == "network"
    group = blocks(module, "resource", "aws_lb_target_group")["engine"]
    (check,) = group["health_check"]
    assert check["path"] == "/health"
    assert check["protocol"] == "HTTP"
    assert group["deregistration_delay"] == "${var.drain_seconds}"


def test_log_group_has_retention(module: dict[str, list[Any]]) -> None:
    group = blocks(module, "resource", "aws_cloudwatch_log_group")["engine"]
    assert group["retention_in_days"] == "${var.log_retention_days}"
    assert variables(module)["log_retention_days"]["default"] >= 365


def test_checkov_skips_carry_reasons() -> None:
    from tests.infra.tfhelpers import MODULE_DIR

    for path in MODULE_DIR.rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"checkov:skip=CKV2?_[A-Z0-9_]+:\S.{20,}", line), (
                    f"{path.name}: skip without a written reason: {line.strip()}"
                )


def test_outputs(module: dict[str, list[Any]]) -> None:
    names = {name for entry in module["output"] for name in entry}
    assert {
        "endpoint_url",
        "autoscaling_group_name",
        "autoscaling_group_arn",
        "node_security_group_id",
    } <= names
