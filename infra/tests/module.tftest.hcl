# Plan-only tests with a mocked AWS provider (Terraform >= 1.7). Run from infra/:
#   terraform init && terraform test
# They need the hashicorp/aws provider to be installable (for its schema); nothing is created.

mock_provider "aws" {
  mock_data "aws_ssm_parameter" {
    defaults = {
      value          = "ami-0123456789abcdef0"
      insecure_value = "ami-0123456789abcdef0"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/nsv4f-abc/0123456789abcdef"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-2:123456789012:log-group:/nightshift/nightshift-v4flash/engine"
    }
  }

  mock_resource "aws_iam_instance_profile" {
    defaults = {
      arn = "arn:aws:iam::123456789012:instance-profile/nightshift-v4flash-node-1"
    }
  }
}

variables {
  vpc_id         = "vpc-0123456789abcdef0"
  subnet_ids     = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  allowed_cidrs  = ["10.20.0.0/16"]
  weights_bucket = "example-weights"
  weights_prefix = "models/DeepSeek-V4-Flash"
  api_key_arn    = "arn:aws:ssm:us-east-2:123456789012:parameter/nightshift/api-key"
}

run "defaults_are_spot_imdsv2_encrypted" {
  command = plan

  assert {
    condition     = aws_launch_template.node.metadata_options[0].http_tokens == "required"
    error_message = "IMDSv2 must be required."
  }

  assert {
    condition     = alltrue([for b in aws_launch_template.node.block_device_mappings : b.ebs[0].encrypted == "true"])
    error_message = "Every EBS volume must be encrypted."
  }

  assert {
    condition     = aws_autoscaling_group.node.mixed_instances_policy[0].instances_distribution[0].spot_allocation_strategy == "capacity-optimized"
    error_message = "Spot capacity must be capacity-optimized."
  }

  assert {
    condition     = aws_autoscaling_group.node.mixed_instances_policy[0].instances_distribution[0].on_demand_base_capacity == 0 && aws_autoscaling_group.node.mixed_instances_policy[0].instances_distribution[0].on_demand_percentage_above_base_capacity == 0
    error_message = "All capacity must be spot."
  }

  assert {
    condition     = output.replicas_per_node == 2
    error_message = "An 8-GPU node with 4 GPUs per replica carries two replicas."
  }

  assert {
    condition     = aws_lb.engine.internal == true
    error_message = "The load balancer must be internal."
  }
}

run "rejects_a_non_h200_instance_type" {
  command = plan

  variables {
    instance_types = ["p4d.24xlarge"]
  }

  expect_failures = [var.instance_types]
}

run "rejects_an_open_cidr" {
  command = plan

  variables {
    allowed_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.allowed_cidrs]
}

run "rejects_an_open_ipv6_cidr" {
  command = plan

  variables {
    allowed_cidrs = ["::/0"]
  }

  expect_failures = [var.allowed_cidrs]
}

run "rejects_gpus_per_replica_that_does_not_divide_the_node" {
  command = plan

  variables {
    gpus_per_replica = 3
  }

  expect_failures = [var.gpus_per_replica]
}

run "sglang_with_secrets_manager_key" {
  command = plan

  variables {
    engine      = "sglang"
    api_key_arn = "arn:aws:secretsmanager:us-east-2:123456789012:secret:nightshift/api-key-AbCdEf"
  }

  assert {
    condition     = local.engine_image == "lmsysorg/sglang:v0.5.15.post1"
    error_message = "sglang must default to the pinned SGLang image."
  }
}
