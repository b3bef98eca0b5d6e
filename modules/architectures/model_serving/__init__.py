"""The `model-serving` stack: ECS Fargate model server behind an ALB."""
