"""An organizer runs a phase from the console in Chromium, with the real site and worker."""

import csv
import io
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.models import TeamStatus
from app.services import challenges as challenges_service
from app.services import teams as teams_service
from tests.browser.test_browser import seed_challenge, watch_console
from tests.factories import PASSWORD, make_user, random_mask, write_ground_truth
from tests.live import live_stack


def dataset_zip(folder: Path) -> Path:
    """A test split in the official layout, zipped under one top-level folder."""
    import numpy as np

    masks = {f"{i:02d}.png": random_mask(np.random.default_rng(40 + i), 64, 80) for i in range(4)}
    split = write_ground_truth(folder / "3.testing", masks)
    archive = folder / "test-split.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(split.rglob("*.png")):
            handle.write(path, f"3.testing/{path.relative_to(split)}")
    return archive


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_organizer_imports_approves_rescores_hides_and_exports(
    page: Page, screenshot, settings, session, storage, tmp_path
):
    seed_challenge(session, storage, tmp_path)
    challenge = challenges_service.get_challenge(session=session, slug="wsss4luad")
    organizer = make_user(session, email="chief@example.org", name="Chief Organizer")
    challenges_service.add_organizer(session=session, challenge=challenge, user=organizer)
    latecomer = make_user(session, email="late@example.org", name="Late")
    team = teams_service.register_team(
        session=session, challenge=challenge, user=latecomer, name="Late Lab", accept_rules=True
    )
    team.status = TeamStatus.PENDING
    session.commit()
    archive = dataset_zip(tmp_path)
    errors = watch_console(page)

    with live_stack(settings, tmp_path / "logs") as stack:
        page.goto(f"{stack.base_url}/login")
        page.get_by_label("Email").fill("chief@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{stack.base_url}/challenges/wsss4luad")
        page.get_by_test_id("organizer-link").click()
        expect(page.get_by_test_id("organizer-teams")).to_contain_text("Late Lab")
        screenshot("20-organizer-dashboard")

        page.get_by_role("link", name="Import a phase").click()
        page.locator("input[name=phase_slug]").fill("test")
        page.locator("input[name=title]").fill("Test")
        page.locator("input[name=file]").set_input_files(str(archive))
        page.get_by_role("button", name="Import").click()
        expect(page.get_by_test_id("import-report")).to_contain_text("Imported Test: 4 images")
        screenshot("21-organizer-import")

        page.get_by_role("link", name="Dashboard").click()
        row = page.get_by_test_id("organizer-teams").locator("tr", has_text="Late Lab")
        row.get_by_role("button", name="Approve").click()
        expect(
            page.get_by_test_id("organizer-teams").locator("tr", has_text="Late Lab")
        ).to_contain_text("approved")

        page.get_by_role("link", name="Validation submissions").click()
        table = page.get_by_test_id("organizer-submissions")
        table.locator("tr", has_text="Alveolar Net").get_by_role("button", name="Rescore").click()
        for _ in range(60):
            status = table.locator("tr", has_text="Alveolar Net").locator(".badge").first
            if status.inner_text().strip().lower() == "scored":
                break
            page.wait_for_timeout(250)
            page.reload()
        expect(table.locator("tr", has_text="Alveolar Net").locator(".badge").first).to_have_text(
            "scored", ignore_case=True
        )

        stroma = table.locator("tr", has_text="Stroma Seekers")
        stroma.locator("input[name=reason]").fill("shared account with Alveolar Net")
        stroma.get_by_role("button", name="Hide").click()
        expect(table.locator("tr", has_text="Stroma Seekers")).to_contain_text("hidden")
        screenshot("22-organizer-submissions")

        page.get_by_role("button", name="Rescore all…").click()
        expect(page.get_by_test_id("rescore-count")).to_have_text("3")
        screenshot("23-organizer-rescore-confirm")
        page.get_by_role("button", name="Cancel").click()

        page.goto(f"{stack.base_url}/challenges/wsss4luad/phases/validation/leaderboard")
        expect(page.get_by_test_id("leaderboard")).not_to_contain_text("Stroma Seekers")

        page.goto(f"{stack.base_url}/organizer/wsss4luad")
        with page.expect_download() as download:
            page.get_by_role("link", name="CSV").first.click()
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert [r["team"] for r in rows if r["rank"]] == ["Alveolar Net"]

        page.get_by_role("link", name="Audit log").click()
        expect(page.get_by_test_id("audit")).to_contain_text("shared account with Alveolar Net")
        screenshot("24-organizer-audit")

    assert errors == []
