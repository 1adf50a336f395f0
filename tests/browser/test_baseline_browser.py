"""An organizer uploads an MLPS checkpoint and runs it on a phase, in Chromium.

The real site and a real worker on the gpu and scoring queues (on the CPU here): the run
ends as a scored Baseline row on the leaderboard, without a rank.
"""

import time

import pytest
from playwright.sync_api import Page, expect

from app.services import challenges as challenges_service
from tests.browser.test_browser import watch_console
from tests.factories import PASSWORD, make_user
from tests.live import live_stack

pytest.importorskip("torch", reason="the baseline run needs the [baseline] extra")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_organizer_uploads_a_checkpoint_and_gets_a_baseline_row(
    page: Page, screenshot, settings, session, storage, tmp_path, demo_data, tiny_checkpoint
):
    phase = challenges_service.import_phase(
        session=session,
        storage=storage,
        challenge_slug="wsss4luad",
        phase_slug="validation",
        dataset_dir=demo_data / "2.validation",
        title="Validation",
    ).phase
    organizer = make_user(session, email="chief@example.org", name="Chief Organizer")
    challenges_service.add_organizer(session=session, challenge=phase.challenge, user=organizer)
    session.commit()
    errors = watch_console(page)

    with live_stack(settings, tmp_path / "logs", worker=False) as stack:
        stack.start_worker("worker", "--queues", "gpu,scoring")
        page.goto(f"{stack.base_url}/login")
        page.get_by_label("Email").fill("chief@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{stack.base_url}/organizer/wsss4luad")
        page.get_by_role("link", name="Baseline").click()
        expect(page.get_by_role("heading", name="MLPS baseline")).to_be_visible()
        screenshot("30-baseline-empty")

        upload = page.get_by_test_id("baseline-upload")
        upload.get_by_label("Name on the leaderboard").fill("MLPS (organizers)")
        upload.get_by_label("Checkpoint").set_input_files(str(tiny_checkpoint))
        upload.get_by_role("button", name="Upload checkpoint").click()
        expect(page.get_by_test_id("baseline-models")).to_contain_text("MLPS (organizers)")
        page.get_by_test_id("run-baseline-validation").click()
        expect(page.get_by_test_id("baseline-runs")).to_contain_text("MLPS (organizers)")

        deadline = time.monotonic() + 120
        runs = page.get_by_test_id("baseline-runs")
        while "scored" not in runs.inner_text():
            assert time.monotonic() < deadline, runs.inner_text()
            assert "failed" not in runs.inner_text(), runs.inner_text()
            time.sleep(1)
            page.reload()
        expect(runs).to_contain_text("CPU")
        expect(runs).to_contain_text("mIoU 0.")
        expect(page.get_by_test_id("baseline-models")).to_contain_text("tiny")
        screenshot("31-baseline-run-scored")

        page.goto(f"{stack.base_url}/challenges/wsss4luad/phases/validation/leaderboard")
        row = page.locator("tr", has_text="MLPS (organizers)")
        expect(row).to_contain_text("Baseline")
        screenshot("32-leaderboard-with-baseline")
    assert errors == []
