"""Tooling around the stacks, not product code: generated docs, deploy and CI drivers, the
emulator harness, benchmarks. Nothing in ``modules/`` imports this package, and nothing here
changes what the stacks synthesize."""
