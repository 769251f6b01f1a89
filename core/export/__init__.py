"""Export: ONNX of the whole pipeline with a parity check, and native safe formats."""
