# Traffic path: callers -> internal NLB (serving_port) -> node replica ports (serving_port + i).
# Callers are admitted on the NLB's security group only; nodes admit nothing but the NLB.

resource "aws_security_group" "nlb" {
  name_prefix = "${var.name}-nlb-"
  description = "Internal NLB in front of the V4-Flash replicas"
  vpc_id      = var.vpc_id
  tags        = merge(local.common_tags, { Name = "${var.name}-nlb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "nlb_from_cidr" {
  for_each = toset(var.allowed_cidrs)

  security_group_id = aws_security_group.nlb.id
  description       = "Serving port from an allowed network"
  ip_protocol       = "tcp"
  from_port         = var.serving_port
  to_port           = var.serving_port
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null
}

resource "aws_vpc_security_group_ingress_rule" "nlb_from_sg" {
  for_each = toset(var.allowed_security_group_ids)

  security_group_id            = aws_security_group.nlb.id
  description                  = "Serving port from an allowed security group"
  ip_protocol                  = "tcp"
  from_port                    = var.serving_port
  to_port                      = var.serving_port
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_egress_rule" "nlb_to_nodes" {
  security_group_id            = aws_security_group.nlb.id
  description                  = "Forwarding and /health checks to the replica ports"
  ip_protocol                  = "tcp"
  from_port                    = var.serving_port
  to_port                      = var.serving_port + local.replicas_per_node - 1
  referenced_security_group_id = aws_security_group.node.id
}

resource "aws_security_group" "node" {
  name_prefix = "${var.name}-node-"
  description = "H200 nodes serving V4-Flash: replica ports from the NLB only"
  vpc_id      = var.vpc_id
  tags        = merge(local.common_tags, { Name = "${var.name}-node" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "node_from_nlb" {
  security_group_id            = aws_security_group.node.id
  description                  = "Replica ports from the NLB (traffic and health checks)"
  ip_protocol                  = "tcp"
  from_port                    = var.serving_port
  to_port                      = var.serving_port + local.replicas_per_node - 1
  referenced_security_group_id = aws_security_group.nlb.id
}

# Egress: HTTPS only, to AWS APIs (S3 for the weights, SSM or Secrets Manager for the API key,
# CloudWatch Logs, Elastic Load Balancing for self-registration) and the container registry for
# the engine image. DNS goes to the VPC resolver and time to the link-local Amazon Time Sync
# service, which security groups do not filter. With VPC endpoints and a mirrored image in ECR,
# narrow this to the endpoints' prefix lists.
resource "aws_vpc_security_group_egress_rule" "node_https" {
  security_group_id = aws_security_group.node.id
  description       = "HTTPS to AWS APIs and the container registry"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_lb" "engine" {
  #checkov:skip=CKV_AWS_91:NLB access logs are only written for TLS listeners; per-request records are kept by the engine log group and the nightshift request ledger.
  #checkov:skip=CKV_AWS_150:Deletion protection is an input (deletion_protection); it defaults off because the intended lifecycle is apply -> run -> destroy each night.
  name                             = "${var.name}-nlb"
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = var.subnet_ids
  security_groups                  = [aws_security_group.nlb.id]
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection
  tags                             = local.common_tags
}

resource "aws_lb_target_group" "engine" {
  name_prefix            = "nsv4f-"
  port                   = var.serving_port
  protocol               = "TCP"
  target_type            = "instance"
  vpc_id                 = var.vpc_id
  deregistration_delay   = var.drain_seconds
  connection_termination = false
  tags                   = local.common_tags

  health_check {
    enabled             = true
    protocol            = "HTTP"
    path                = "/health"
    port                = "traffic-port"
    matcher             = "200"
    interval            = 10
    timeout             = 6
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "engine" {
  load_balancer_arn = aws_lb.engine.arn
  port              = var.serving_port
  protocol          = var.tls_certificate_arn == null ? "TCP" : "TLS"
  certificate_arn   = var.tls_certificate_arn
  ssl_policy        = var.tls_certificate_arn == null ? null : "ELBSecurityPolicy-TLS13-1-2-2021-06"
  tags              = local.common_tags

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.engine.arn
  }
}
