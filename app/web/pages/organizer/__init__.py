"""The organizer console, one module per concern: the index and a challenge's dashboard
with its registrations, submissions and their moderation, the challenge's and phases'
settings with dataset imports, and the records (exports, audit log)."""

from fastapi import APIRouter

from app.web.pages.organizer import dashboard, records, settings, submissions

PARTS = (dashboard, submissions, settings, records)

router = APIRouter()
for part in PARTS:
    router.include_router(part.router)
