"""Local tooling around the synthesized stacks: offline validation, the AWS emulator
harness, the security scan. Nothing here changes what the stacks synthesize."""
