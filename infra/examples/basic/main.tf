# Smallest root module that uses the nightshift V4-Flash module: one p5en spot node, two 4-GPU
# vLLM replicas behind an internal NLB, reachable from one CIDR block.

terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  description = "AWS region with p5en spot capacity."
  type        = string
  default     = "us-east-2"
}

variable "vpc_id" {
  description = "VPC for the nodes."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets, ideally one per Availability Zone."
  type        = list(string)
}

variable "caller_cidrs" {
  description = "Networks of the nightshift workers."
  type        = list(string)
}

variable "weights_bucket" {
  description = "Bucket holding the V4-Flash checkpoint."
  type        = string
}

variable "api_key_arn" {
  description = "SSM SecureString parameter or Secrets Manager secret with the API key."
  type        = string
}

module "v4_flash" {
  source = "../.."

  name           = "nightshift-v4flash"
  vpc_id         = var.vpc_id
  subnet_ids     = var.private_subnet_ids
  allowed_cidrs  = var.caller_cidrs
  weights_bucket = var.weights_bucket
  weights_prefix = "models/DeepSeek-V4-Flash"
  api_key_arn    = var.api_key_arn

  engine           = "vllm"
  instance_types   = ["p5en.48xlarge"]
  gpus_per_replica = 4
  node_count       = 1

  tags = {
    project = "nightshift"
  }
}

output "endpoint_url" {
  description = "Set this as the self-hosted base URL in nightshift."
  value       = module.v4_flash.endpoint_url
}

output "autoscaling_group_name" {
  description = "Scale to 0 to stop paying for GPUs without destroying the stack."
  value       = module.v4_flash.autoscaling_group_name
}
