"""Generated docs: the resilience scorecard and the architecture diagrams."""
