"""Pinned versions the synthesized Terraform declares (no cdktf import: cheap to load)."""

AWS_PROVIDER_SOURCE = "hashicorp/aws"
AWS_PROVIDER_VERSION = "5.100.0"  # what cdktf-cdktf-provider-aws 20.1.0 is generated from
REQUIRED_TERRAFORM = ">= 1.10.0"  # S3 backend use_lockfile
