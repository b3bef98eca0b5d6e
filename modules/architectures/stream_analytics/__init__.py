"""The `stream-analytics` stack."""
