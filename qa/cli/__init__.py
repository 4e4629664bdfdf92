"""The `ask` command line: one door onto the pipeline, beside the API."""
