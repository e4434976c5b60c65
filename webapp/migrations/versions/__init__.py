"""The revisions, numbered, never edited once released."""
