"""The `stream-analytics` stack: Kinesis stream + EC2 Spot Fleet of stream workers."""
