"""The `event-processing` stack: S3 `data/*.json` uploads processed by a Lambda (via SQS by
default); nothing lost.
"""
