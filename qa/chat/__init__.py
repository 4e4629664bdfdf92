"""Chat: conversations kept in SQLite, follow-ups rewritten into whole questions."""
