"""A small, dependency-light model server: stdlib HTTP plus numpy.

Importable on its own (``python -m model_server``), so the same code runs in the
container image and as a systemd service on EC2.
"""
