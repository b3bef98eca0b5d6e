"""The `state` stack: the bootstrap, the S3 bucket every other stack keeps its Terraform state in
(local state).
"""
