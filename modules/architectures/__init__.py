"""One package per architecture, composed from blocks; the settings -> props mapping lives here."""
