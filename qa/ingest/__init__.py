"""Ingest: read files into articles, split sentences, tag entities, chunk, embed, store."""
