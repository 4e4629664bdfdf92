"""The HTTP edge of article-qa (FastAPI)."""
