"""Lint tooling: the type check run the way the suite and ``make lint`` run it."""
