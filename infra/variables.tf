# ---------------------------------------------------------------------------------------------
# Naming and placement
# ---------------------------------------------------------------------------------------------

variable "name" {
  description = "Prefix for every resource name. Lower-case letters, digits and dashes."
  type        = string
  default     = "nightshift-v4flash"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}$", var.name))
    error_message = "name must be 2-23 characters of lower-case letters, digits and dashes, starting with a letter (it prefixes the load balancer name, which AWS caps at 32 characters)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "vpc_id" {
  description = "VPC that holds the nodes and the internal load balancer."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Private subnets (one or more Availability Zones) for the nodes and the internal load balancer. More zones give the spot allocator more pools to choose from."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids must be a non-empty list of subnet-... ids."
  }
}

# ---------------------------------------------------------------------------------------------
# Who may call the endpoint
# ---------------------------------------------------------------------------------------------

variable "allowed_cidrs" {
  description = "CIDR blocks admitted to the serving port of the load balancer. Never 0.0.0.0/0 or ::/0: the endpoint is private to the callers you name."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "Every entry of allowed_cidrs must be a CIDR block such as 10.0.0.0/16."
  }

  validation {
    condition     = alltrue([for c in var.allowed_cidrs : !endswith(trimspace(c), "/0")])
    error_message = "allowed_cidrs must not contain 0.0.0.0/0, ::/0 or any other /0 block: name the networks of the callers."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups (for example the one of the nightshift workers) admitted to the serving port of the load balancer."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for g in var.allowed_security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", g))])
    error_message = "allowed_security_group_ids must be sg-... ids."
  }
}

variable "serving_port" {
  description = "Port of the OpenAI-compatible endpoint on the load balancer. Replica i on a node listens on serving_port + i."
  type        = number
  default     = 8000

  validation {
    condition     = var.serving_port >= 1024 && var.serving_port <= 65000 && floor(var.serving_port) == var.serving_port
    error_message = "serving_port must be an integer between 1024 and 65000 (replicas take the next few ports)."
  }
}

variable "tls_certificate_arn" {
  description = "ACM certificate for a TLS listener. When null the listener is plain TCP and the API key crosses the VPC unencrypted; set it whenever callers are outside a trusted network segment."
  type        = string
  default     = null

  validation {
    condition     = var.tls_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.tls_certificate_arn))
    error_message = "tls_certificate_arn must be an ACM certificate ARN or null."
  }
}

# ---------------------------------------------------------------------------------------------
# Capacity
# ---------------------------------------------------------------------------------------------

variable "instance_types" {
  description = "EC2 instance types the spot allocator may choose from. Only 8x H200 types: p5en.48xlarge and p5e.48xlarge."
  type        = list(string)
  default     = ["p5en.48xlarge"]

  validation {
    condition     = length(var.instance_types) > 0 && alltrue([for t in var.instance_types : contains(["p5en.48xlarge", "p5e.48xlarge"], t)])
    error_message = "instance_types may only hold H200 instance types: p5en.48xlarge, p5e.48xlarge."
  }
}

variable "gpus_per_replica" {
  description = "GPUs behind one model server. V4-Flash (~160 GB of FP4/FP8 weights) does not fit one 141 GB H200; the published vLLM and SGLang recipes use 4. Must divide the node's 8 GPUs."
  type        = number
  default     = 4

  validation {
    condition     = contains([2, 4, 8], var.gpus_per_replica)
    error_message = "gpus_per_replica must be 2, 4 or 8: more than one H200 is needed for the weights, and it must divide the 8 GPUs of an H200 node."
  }
}

variable "node_count" {
  description = "Desired number of nodes. 0 keeps the group (and the load balancer) but runs nothing."
  type        = number
  default     = 1

  validation {
    condition     = var.node_count >= 0 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a non-negative integer."
  }
}

variable "max_nodes" {
  description = "Upper bound of the Auto Scaling group."
  type        = number
  default     = 4

  validation {
    condition     = var.max_nodes >= 1 && floor(var.max_nodes) == var.max_nodes
    error_message = "max_nodes must be a positive integer."
  }
}

variable "spot_max_price" {
  description = "Highest spot price (USD per instance-hour) to pay. null caps at the on-demand price, which is what AWS recommends."
  type        = number
  default     = null

  validation {
    condition     = var.spot_max_price == null || try(var.spot_max_price > 0, false)
    error_message = "spot_max_price must be a positive number of USD per hour, or null."
  }
}

variable "root_volume_size_gb" {
  description = "Size of the encrypted gp3 root volume, which holds the OS and the engine container image. Weights go to the instance NVMe, not here."
  type        = number
  default     = 200

  validation {
    condition     = var.root_volume_size_gb >= 100 && var.root_volume_size_gb <= 2000
    error_message = "root_volume_size_gb must be between 100 and 2000."
  }
}

variable "ebs_kms_key_arn" {
  description = "Customer-managed KMS key for the root volume. null uses the account's default EBS key (the volume is encrypted either way)."
  type        = string
  default     = null
}

variable "ami_ssm_parameter" {
  description = "Public SSM parameter holding the AMI id: the AWS Deep Learning Base OSS NVIDIA Driver GPU AMI (Ubuntu 22.04), with driver, Docker and the NVIDIA container toolkit."
  type        = string
  default     = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"

  validation {
    condition     = startswith(var.ami_ssm_parameter, "/aws/service/")
    error_message = "ami_ssm_parameter must be a public AWS-owned parameter path under /aws/service/."
  }
}

# ---------------------------------------------------------------------------------------------
# Model server
# ---------------------------------------------------------------------------------------------

variable "engine" {
  description = "Serving engine: vllm or sglang."
  type        = string
  default     = "vllm"

  validation {
    condition     = contains(["vllm", "sglang"], var.engine)
    error_message = "engine must be vllm or sglang."
  }
}

variable "engine_image" {
  description = "Container image of the engine, pinned by tag or digest. null takes the module's pinned default for the chosen engine."
  type        = string
  default     = null

  validation {
    condition     = var.engine_image == null || try(can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$", var.engine_image)) && !endswith(var.engine_image, ":latest"), false)
    error_message = "engine_image must be pinned by a tag other than latest, or by @sha256 digest."
  }
}

variable "served_model_name" {
  description = "Model id the endpoint answers to (the `model` field of requests)."
  type        = string
  default     = "deepseek-v4-flash"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]{1,128}$", var.served_model_name))
    error_message = "served_model_name must be 1-128 characters of letters, digits, dot, dash, underscore or slash."
  }
}

variable "max_model_len" {
  description = "Context length the engine admits (input plus output). V4 supports 1,048,576."
  type        = number
  default     = 1048576

  validation {
    condition     = var.max_model_len >= 8192 && var.max_model_len <= 1048576
    error_message = "max_model_len must be between 8192 and 1048576."
  }
}

variable "extra_engine_args" {
  description = "Extra command-line flags appended to the engine's recipe flags. Must not carry secrets: user data is readable by anyone who can describe the launch template."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.extra_engine_args : !can(regex("(?i)api[-_]?key|token|secret|password", a))])
    error_message = "extra_engine_args must not carry keys, tokens or passwords; the API key comes from api_key_arn at boot."
  }
}

variable "weights_bucket" {
  description = "S3 bucket holding the V4-Flash checkpoint."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.weights_bucket))
    error_message = "weights_bucket must be a bucket name (not an ARN or s3:// URI)."
  }
}

variable "weights_prefix" {
  description = "Key prefix of the checkpoint inside weights_bucket, without leading or trailing slash (for example models/DeepSeek-V4-Flash)."
  type        = string

  validation {
    condition     = length(var.weights_prefix) > 0 && !startswith(var.weights_prefix, "/") && !endswith(var.weights_prefix, "/") && !strcontains(var.weights_prefix, "*") && !strcontains(var.weights_prefix, "..")
    error_message = "weights_prefix must be non-empty, without leading/trailing slash, '*' or '..'."
  }
}

variable "weights_kms_key_arn" {
  description = "KMS key that encrypts the checkpoint objects (SSE-KMS), if any; the nodes get kms:Decrypt on it alone."
  type        = string
  default     = null
}

variable "api_key_arn" {
  description = "ARN of the API key callers must present: an SSM SecureString parameter or a Secrets Manager secret (plain string). Read by the node at boot; never placed in user data."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:(ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+|secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+)$", var.api_key_arn))
    error_message = "api_key_arn must be the ARN of one SSM parameter or one Secrets Manager secret."
  }
}

variable "api_key_kms_key_arn" {
  description = "Customer-managed KMS key that encrypts the API key, if any; the nodes get kms:Decrypt on it alone. Not needed for AWS-managed keys."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------

variable "drain_seconds" {
  description = "How long a replica leaving service (spot interruption, scale-in) keeps serving in-flight requests. Spot gives two minutes' notice, so keep it under ~110."
  type        = number
  default     = 100

  validation {
    condition     = var.drain_seconds >= 10 && var.drain_seconds <= 110
    error_message = "drain_seconds must be between 10 and 110 (spot interruptions give 120 seconds)."
  }
}

variable "log_retention_days" {
  description = "Retention of the engine log group."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, ...)."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key for the log group. null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null
}

variable "enable_ssm_session_manager" {
  description = "Attach AmazonSSMManagedInstanceCore so operators can open a shell through Session Manager (no SSH, no key pair)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Deletion protection on the load balancer. Off by default because the intended lifecycle is apply -> run -> destroy each night."
  type        = bool
  default     = false
}
