"""The trained extractive reader: training (torch, ``ask train-reader``) and reading
(onnxruntime + tokenizers, on the question path)."""
