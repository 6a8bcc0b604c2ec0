output "endpoint_url" {
  description = "Base URL of the OpenAI-compatible API (set it as the self-hosted base URL in nightshift)."
  value       = "${var.tls_certificate_arn == null ? "http" : "https"}://${aws_lb.engine.dns_name}:${var.serving_port}/v1"
}

output "nlb_dns_name" {
  description = "DNS name of the internal network load balancer."
  value       = aws_lb.engine.dns_name
}

output "autoscaling_group_name" {
  description = "Name of the spot Auto Scaling group (scale it to 0 to stop paying for GPUs)."
  value       = aws_autoscaling_group.node.name
}

output "autoscaling_group_arn" {
  description = "ARN of the spot Auto Scaling group."
  value       = aws_autoscaling_group.node.arn
}

output "node_security_group_id" {
  description = "Security group of the GPU nodes."
  value       = aws_security_group.node.id
}

output "nlb_security_group_id" {
  description = "Security group of the load balancer; callers are admitted here."
  value       = aws_security_group.nlb.id
}

output "target_group_arn" {
  description = "Target group the replicas register in; its health shows which replicas serve."
  value       = aws_lb_target_group.engine.arn
}

output "replicas_per_node" {
  description = "Model servers per node (node GPUs / gpus_per_replica)."
  value       = local.replicas_per_node
}

output "log_group_name" {
  description = "CloudWatch log group of the engines, one stream per instance and replica."
  value       = aws_cloudwatch_log_group.engine.name
}

output "node_role_arn" {
  description = "IAM role of the nodes."
  value       = aws_iam_role.node.arn
}
