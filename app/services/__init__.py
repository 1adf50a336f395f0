"""Business logic: keyword-only functions that take a session; no web imports."""
