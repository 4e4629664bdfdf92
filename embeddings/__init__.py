"""Text to vectors and vector stores. Knows nothing of questions or articles."""
