terraform {
  # 1.7 brings mock_provider for `terraform test`; 1.9 lets a validation read other variables.
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 7.0"
    }
  }
}
