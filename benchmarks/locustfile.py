"""Deadline-day traffic for `make loadtest`: browsers on the public pages, and teams that
upload a full submission and wait for its score.

Settings come from the environment that benchmarks/loadtest.py sets: LOADTEST_TOKENS
(comma-separated API tokens, one per submitting team), LOADTEST_ARCHIVE (a zip) and
LOADTEST_THINK (a browser's pause between two pages in seconds, "0.5-1.5" by default; "0"
turns the browsers into a capacity test that asks as fast as the server answers).

Browsers use locust's FastHttpUser (geventhttpclient), several times cheaper per request
than HttpUser (requests): the load generator shares the CPU with the server it measures.
"""

import itertools
import os
import time
from pathlib import Path

from locust import HttpUser, between, constant, events, task
from locust.contrib.fasthttp import FastHttpUser

SECRETS = [token for token in os.environ.get("LOADTEST_TOKENS", "").split(",") if token]
TOKENS = itertools.cycle(SECRETS)
ARCHIVE = Path(os.environ.get("LOADTEST_ARCHIVE", "submission.zip"))
PHASE = "/challenges/wsss4luad/phases/validation"
THINK = [float(part) for part in os.environ.get("LOADTEST_THINK", "0.5-1.5").split("-")]


class Browser(FastHttpUser):
    """A participant refreshing the leaderboard and the challenge pages."""

    weight = 10
    wait_time = between(THINK[0], THINK[-1]) if THINK[-1] > 0 else constant(0)

    @task(6)
    def leaderboard(self) -> None:
        self.client.get(f"{PHASE}/leaderboard", name="leaderboard page")

    @task(2)
    def leaderboard_json(self) -> None:
        self.client.get(f"/api/v1{PHASE}/leaderboard", name="leaderboard API")

    @task(1)
    def challenge(self) -> None:
        self.client.get("/challenges/wsss4luad", name="challenge page")


class Submitter(HttpUser):
    """A team uploading its predictions and polling until scored (none without tokens)."""

    abstract = not SECRETS
    weight = 1
    wait_time = between(2, 4)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {next(TOKENS)}"}
        self.payload = ARCHIVE.read_bytes()

    @task
    def submit_and_wait(self) -> None:
        started = time.perf_counter()
        with self.client.post(
            f"/api/v1{PHASE}/submissions",
            headers=self.headers,
            files={"file": ("submission.zip", self.payload)},
            name="upload",
            catch_response=True,
        ) as response:
            if response.status_code != 202:
                response.failure(f"{response.status_code}: {response.text[:120]}")
                return
            submission_id = response.json()["id"]
        known = "queued"
        while time.perf_counter() - started < 120:
            # A long poll, as the submission page and `wsss4luad submit --wait` use it.
            state = self.client.get(
                f"/api/v1/submissions/{submission_id}?wait=25&since={known}",
                headers=self.headers,
                name="poll",
            ).json()
            known = state["status"]
            if state["status"] in ("scored", "failed"):
                events.request.fire(
                    request_type="SCORE",
                    name="upload to score",
                    response_time=(time.perf_counter() - started) * 1000,
                    response_length=0,
                    exception=None if state["status"] == "scored" else RuntimeError("failed"),
                    context={},
                )
                return
