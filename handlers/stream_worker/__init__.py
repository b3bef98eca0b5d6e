"""The stream worker (see worker.py); run with ``python -m stream_worker`` from handlers/."""
