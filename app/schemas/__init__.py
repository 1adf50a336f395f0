"""Pydantic models for requests, responses and task payloads (never ORM classes)."""
