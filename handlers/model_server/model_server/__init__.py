"""The model server: any ONNX model, run by onnxruntime on CPU, served over the Open
Inference Protocol (KServe V2) by FastAPI on uvicorn, with dynamic batching.

Importable on its own (``python -m model_server``), so the same code runs in the
container image and as a systemd service on EC2.
"""

__version__ = "2.0.0"
