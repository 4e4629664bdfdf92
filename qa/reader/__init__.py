"""The trained extractive reader at question time: onnxruntime + tokenizers only (its
training, which needs torch, lives in ``qa.training``)."""
