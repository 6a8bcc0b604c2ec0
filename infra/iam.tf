# Least privilege for the node role: read one weights prefix, read one API key, write to one log
# group, and (de)register its own replicas in one target group. No wildcard actions, and no
# resource is "*".

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    sid     = "Ec2AssumesNodeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "node" {
  statement {
    sid       = "ReadWeightsObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.weights_bucket}/${var.weights_prefix}/*"]
  }

  statement {
    sid       = "ListWeightsPrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.weights_bucket}"]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.weights_prefix, "${var.weights_prefix}/*"]
    }
  }

  statement {
    sid       = "ReadApiKey"
    effect    = "Allow"
    actions   = local.api_key_source == "ssm" ? ["ssm:GetParameter"] : ["secretsmanager:GetSecretValue"]
    resources = [var.api_key_arn]
  }

  dynamic "statement" {
    for_each = compact([var.api_key_kms_key_arn, var.weights_kms_key_arn])
    content {
      sid       = "DecryptWithKey${statement.key}"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "WriteEngineLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.engine.arn}:log-stream:*"]
  }

  statement {
    sid       = "RegisterOwnReplicas"
    effect    = "Allow"
    actions   = ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
    resources = [aws_lb_target_group.engine.arn]
  }
}

resource "aws_iam_role" "node" {
  name_prefix        = "${var.name}-node-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.common_tags
}

resource "aws_iam_role_policy" "node" {
  name_prefix = "${var.name}-node-"
  role        = aws_iam_role.node.id
  policy      = data.aws_iam_policy_document.node.json
}

resource "aws_iam_role_policy_attachment" "ssm_core" {
  count      = var.enable_ssm_session_manager ? 1 : 0
  role       = aws_iam_role.node.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "node" {
  name_prefix = "${var.name}-node-"
  role        = aws_iam_role.node.name
  tags        = local.common_tags
}
