"""Deploy tooling: Terraform runs, emulator round trips, plan review, the security scan."""
