"""Shipping: ONNX export and checks of a bundle, tagging text, exports to other tools' formats."""
