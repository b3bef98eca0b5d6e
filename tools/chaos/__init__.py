"""Chaos experiments (AWS FIS) from a terminal: ``make chaos`` lists those of the synth,
``make chaos RUN=<stack>/<experiment>`` runs one on the account of the settings (docs/chaos.md)."""
