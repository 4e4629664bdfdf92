"""article-qa: ask questions of your own articles, offline, with cited passages."""

__version__ = "0.1.0"
