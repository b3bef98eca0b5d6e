"""The canary controller Lambda (``handler.handler``), packaged from this folder."""
