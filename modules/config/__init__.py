"""Settings: the loader and the typed settings, read once; no constructs here."""
