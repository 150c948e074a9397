"""Model adapters: LLM backends behind one interface, the encoder, ONNX export and runtime."""
