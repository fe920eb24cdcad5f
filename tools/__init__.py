"""Workstation toolchain: builds the full-int8 TFLite models in ``models/``.

Runs in its own virtual environment (TensorFlow, onnx2tf); the device package
``edge`` never imports anything from here.
"""
