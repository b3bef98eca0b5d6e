"""What every stack shares: the stack base (provider, tags, backend), emulator adjustments, the
lazy provider import, pinned versions and paths."""
