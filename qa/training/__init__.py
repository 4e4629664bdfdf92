"""Training the extractive reader (torch; ``ask train-reader``).

Never imported on the question path."""
