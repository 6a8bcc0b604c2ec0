locals {
  # Both H200 instance types carry eight 141 GB H200 GPUs.
  gpus_by_instance_type = {
    "p5en.48xlarge" = 8
    "p5e.48xlarge"  = 8
  }
  node_gpus         = min([for t in var.instance_types : local.gpus_by_instance_type[t]]...)
  replicas_per_node = floor(local.node_gpus / var.gpus_per_replica)
  replica_ports     = [for i in range(local.replicas_per_node) : var.serving_port + i]

  # Pinned defaults, the versions the published DeepSeek-V4-Flash recipes were written against.
  default_engine_images = {
    vllm   = "vllm/vllm-openai:v0.20.0"
    sglang = "lmsysorg/sglang:v0.5.15.post1"
  }
  engine_image = coalesce(var.engine_image, local.default_engine_images[var.engine])

  api_key_source = split(":", var.api_key_arn)[2] # "ssm" or "secretsmanager"

  common_tags = merge(var.tags, {
    "nightshift:component" = "selfhosted-v4-flash"
  })
}

data "aws_partition" "current" {}

data "aws_ssm_parameter" "ami" {
  name = var.ami_ssm_parameter
}

resource "aws_cloudwatch_log_group" "engine" {
  #checkov:skip=CKV_AWS_158:KMS is optional by design; callers with a customer key pass log_kms_key_arn, otherwise CloudWatch Logs encrypts with its own key.
  name              = "/nightshift/${var.name}/engine"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = local.common_tags
}

resource "aws_launch_template" "node" {
  name_prefix            = "${var.name}-"
  description            = "H200 spot node serving DeepSeek V4-Flash (${var.engine})"
  image_id               = nonsensitive(data.aws_ssm_parameter.ami.value)
  ebs_optimized          = true
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.node.id]

  iam_instance_profile {
    arn = aws_iam_instance_profile.node.arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1 # the engine containers get no path to instance credentials
    instance_metadata_tags      = "disabled"
  }

  monitoring {
    enabled = true
  }

  # Root volume only: OS and the engine image. The weights live on the instance NVMe, which the
  # Nitro hardware encrypts at rest, and vanish with the instance.
  block_device_mappings {
    device_name = "/dev/sda1"

    ebs {
      volume_size           = var.root_volume_size_gb
      volume_type           = "gp3"
      encrypted             = true
      kms_key_id            = var.ebs_kms_key_arn
      delete_on_termination = true
    }
  }

  user_data = base64gzip(templatefile("${path.module}/templates/cloud-init.yaml.tftpl", {
    engine            = var.engine
    engine_image      = local.engine_image
    served_model_name = var.served_model_name
    max_model_len     = var.max_model_len
    gpus_per_replica  = var.gpus_per_replica
    replica_ports     = local.replica_ports
    extra_engine_args = var.extra_engine_args
    weights_s3_uri    = "s3://${var.weights_bucket}/${var.weights_prefix}/"
    api_key_arn       = var.api_key_arn
    api_key_source    = local.api_key_source
    target_group_arn  = aws_lb_target_group.engine.arn
    log_group_name    = aws_cloudwatch_log_group.engine.name
    drain_seconds     = var.drain_seconds
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.common_tags, { Name = "${var.name}-node" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.common_tags, { Name = "${var.name}-root" })
  }

  tags = local.common_tags

  lifecycle {
    precondition {
      condition     = local.node_gpus % var.gpus_per_replica == 0
      error_message = "gpus_per_replica must divide the GPU count of every instance type."
    }

    precondition {
      condition     = length(var.allowed_cidrs) + length(var.allowed_security_group_ids) > 0
      error_message = "Name at least one caller: allowed_cidrs or allowed_security_group_ids."
    }
  }
}

resource "aws_autoscaling_group" "node" {
  name_prefix               = "${var.name}-"
  min_size                  = 0
  max_size                  = var.max_nodes
  desired_capacity          = var.node_count
  vpc_zone_identifier       = var.subnet_ids
  capacity_rebalance        = true
  health_check_type         = "EC2"
  health_check_grace_period = 3600
  default_instance_warmup   = 1800

  # Nodes register their replicas in the target group themselves once /health answers, and
  # deregister on a spot notice or shutdown (see the cloud-init template): one instance carries
  # several replicas on different ports, which an ASG attachment (one port per group) cannot express.

  mixed_instances_policy {
    instances_distribution {
      on_demand_base_capacity                  = 0
      on_demand_percentage_above_base_capacity = 0
      spot_allocation_strategy                 = "capacity-optimized"
      spot_max_price                           = var.spot_max_price == null ? null : tostring(var.spot_max_price)
    }

    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.node.id
        version            = aws_launch_template.node.latest_version
      }

      dynamic "override" {
        for_each = var.instance_types
        content {
          instance_type = override.value
        }
      }
    }
  }

  dynamic "tag" {
    for_each = merge(local.common_tags, { Name = "${var.name}-node" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    precondition {
      condition     = var.node_count <= var.max_nodes
      error_message = "node_count must not exceed max_nodes."
    }
  }
}
