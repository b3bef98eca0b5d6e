"""The tests: unit, synth matchers, terraform validate, security scan, emulator round trips, handlers."""
