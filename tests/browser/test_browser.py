"""End to end in Chromium against the real `wsss4luad serve` and `wsss4luad worker`.

A participant signs up, registers a team, downloads the phase data, checks a broken
archive, uploads a good one, watches it get scored live and finds the team on top of the
leaderboard. Full-page screenshots of every key page go to test-artifacts/screenshots/.
"""

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import ConsoleMessage, Page, Response, expect

from app.models import Phase, User
from app.scoring import GroundTruthFolder, PreparedGroundTruth, score_path
from app.services import scoring_runs
from app.services import submissions as submissions_service
from app.services import teams as teams_service
from tests.factories import (
    Mask,
    RecordingTasks,
    make_phase,
    make_team,
    make_user,
    prediction_zip,
    random_mask,
)
from tests.live import live_stack

DESCRIPTION = """\
Lung adenocarcinoma is the most common type of lung cancer. This challenge asks for
**pixel-level tissue masks** learned from *patch-level* labels only.

## Task
Predict, for every pixel of an H&E image, one of three tissue classes:

| Index | Class | Colour |
|------:|-------|--------|
| 0 | Tumor epithelial tissue | blue |
| 1 | Tumor-associated stroma | green |
| 2 | Normal tissue | orange |

Pixels outside the tissue (the background mask) are not evaluated.

## Evaluation
Scores use one confusion matrix over all evaluated pixels of a phase; the ranking metric
is the mean IoU of the three classes.
"""

RULES = """\
1. Train only on the official training patches and ImageNet-pretrained weights.
2. One account per person; teams register once and share their limits.
3. Ground-truth masks are never shared; do not annotate the validation or test images.
4. Top teams publish a short method description.
"""

DATA = """\
Each phase's download holds `img/` (the H&E images) and `background-mask/` (1 where there
is no tissue). Submit a zip with one PNG mask per image, named like the image.
"""

SIGN_UP = {
    "email": "ada@lung-lab.example",
    "password": "a-long-enough-password",
    "display_name": "Ada Lovelace",
    "affiliation": "Lung Lab, University of Example",
    "country": "GB",
}
TEAM = "Pathology Pixels"


def phase_masks() -> dict[str, Mask]:
    """Six ground-truth masks of assorted sizes."""
    rng = np.random.default_rng(11)
    return {f"{i:02d}.png": random_mask(rng, 96 + 24 * i, 160 - 8 * i) for i in range(6)}


def seed_score(
    session, storage, phase: Phase, user: User, archive: Path, method: str, **options
) -> None:
    """Submit an archive for `user` and score it in-process, as the worker would."""
    upload = storage.scratch_dir() / f"{archive.stem}.upload"
    upload.write_bytes(archive.read_bytes())
    submission = submissions_service.create_submission(
        session=session,
        storage=storage,
        phase=phase,
        user=user,
        upload=upload,
        archive_name=archive.name,
        sha256="0" * 64,
        method_name=method,
        enqueue=RecordingTasks().score,
        **options,
    )
    run = scoring_runs.claim(session=session, submission_id=submission.id, max_attempts=3)
    assert run is not None
    ground_truth = PreparedGroundTruth(storage.path(run.ground_truth_key))
    result = score_path(ground_truth, storage.path(run.archive_key))
    assert scoring_runs.finish(
        session=session, submission_id=submission.id, result=result, seconds=0.4
    )


def seed_challenge(session, storage, folder: Path) -> dict[str, Mask]:
    """The WSSS4LUAD challenge with a validation phase, two rival teams and a baseline."""
    masks = phase_masks()
    phase, _ = make_phase(session, storage, folder, masks=masks, daily_limit=5)
    challenge = phase.challenge
    challenge.title = "WSSS4LUAD"
    challenge.summary = (
        "Weakly-supervised tissue semantic segmentation for lung adenocarcinoma: "
        "pixel masks of tumor, stroma and normal tissue from patch-level labels."
    )
    challenge.description_md = DESCRIPTION
    challenge.rules_md = RULES
    challenge.data_md = DATA
    rivals = [("Alveolar Net", "CAM + CRF", 0.30), ("Stroma Seekers", "Affinity net", 0.18)]
    for index, (name, method, damage) in enumerate(rivals):
        user = make_user(session, email=f"rival{index}@example.org", name=f"Rival {index}")
        make_team(session, challenge, user, name=name)
        archive = prediction_zip(folder / f"rival{index}.zip", masks, damage=damage, seed=index)
        seed_score(session, storage, phase, user, archive, method)
    organizer = make_user(session, email="organizer@example.org", name="Organizer")
    baseline = teams_service.ensure_baseline_team(session=session, challenge=challenge)
    archive = prediction_zip(folder / "baseline.zip", masks, damage=0.24, seed=9)
    seed_score(session, storage, phase, organizer, archive, "ResNet38 CAM", team=baseline)
    session.commit()
    return masks


def watch_console(page: Page) -> list[str]:
    """Collect console errors (CSP violations, script errors) and failed requests."""
    errors: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    def failed(response: Response) -> None:
        if response.status >= 400:
            errors.append(f"{response.status} {response.url}")

    page.on("console", keep)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("response", failed)
    return errors


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sign_up_to_leaderboard(
    page: Page,
    screenshot: Callable[..., Path],
    settings,
    session,
    storage,
    tmp_path: Path,
) -> None:
    masks = seed_challenge(session, storage, tmp_path)
    dataset = tmp_path / "wsss4luad-validation"
    good = prediction_zip(tmp_path / "predictions.zip", masks, damage=0.06, seed=42)
    missing = sorted(masks)[3]
    bad = prediction_zip(
        tmp_path / "incomplete.zip", {k: v for k, v in masks.items() if k != missing}
    )
    expected_miou = f"{score_path(GroundTruthFolder(dataset), good).miou:.4f}"
    console_errors = watch_console(page)

    with live_stack(settings, tmp_path / "logs") as stack:
        # Home, then the challenge page with its Markdown description.
        page.goto(stack.base_url)
        expect(page.get_by_role("link", name="WSSS4LUAD", exact=True)).to_be_visible()
        screenshot("01-home")
        page.get_by_role("button", name="Open challenge").click()
        expect(page.get_by_role("heading", name="Evaluation")).to_be_visible()
        expect(page.locator(".prose table")).to_contain_text("Tumor-associated stroma")
        screenshot("02-challenge")
        page.get_by_role("link", name="Rules", exact=True).click()
        expect(page.locator(".prose")).to_contain_text("ImageNet-pretrained weights")

        # Sign up; we come back to the registration page.
        page.get_by_role("button", name="Sign up to take part").click()
        expect(page).to_have_url(re.compile(r"/signup\?next="))
        for field, value in SIGN_UP.items():
            page.locator(f"input[name={field}]").fill(value)
        screenshot("03-signup")
        page.get_by_role("button", name="Create account").click()
        expect(page).to_have_url(re.compile(r"/challenges/wsss4luad/register"))
        expect(page.get_by_role("status")).to_contain_text("Welcome")
        expect(page.get_by_role("link", name=SIGN_UP["display_name"])).to_be_visible()

        # Register a team: the rules must be accepted.
        create = page.locator("form", has=page.locator("input[name=action][value=create]"))
        create.locator("input[name=team_name]").fill(TEAM)
        create.locator("input[name=accept_rules]").check()
        screenshot("04-register")
        create.get_by_role("button", name="Create team").click()
        expect(page).to_have_url(re.compile(r"/challenges/wsss4luad/team"))
        expect(page.get_by_role("status")).to_contain_text("Your team is registered")
        expect(page.get_by_test_id("invite-code")).to_have_text(re.compile(r"^[0-9a-f]{16}$"))
        expect(page.locator("table")).to_contain_text(SIGN_UP["affiliation"])
        screenshot("05-team")
        screenshot("05-team", narrow=True)

        # Download the phase data: images and background masks, never the ground truth.
        with page.expect_download() as download_info:
            page.get_by_role("button", name=re.compile(r"^Download data")).click()
        download = download_info.value
        archive_path = tmp_path / download.suggested_filename
        download.save_as(archive_path)
        with zipfile.ZipFile(archive_path) as archive:
            names = archive.namelist()
        assert sorted(n for n in names if n.startswith("img/")) == [f"img/{m}" for m in masks]
        assert sorted(n for n in names if n.startswith("background-mask/")) == [
            f"background-mask/{m}" for m in masks
        ]
        assert not [n for n in names if n.startswith("mask/") or "/mask/" in n]

        # Check an incomplete archive: every problem is listed, nothing is submitted.
        page.get_by_role("button", name="Submit", exact=True).click()
        expect(page).to_have_url(re.compile(r"/phases/validation/submit$"))
        expect(page.get_by_test_id("quota")).to_contain_text("5 left today")
        screenshot("06-submit")
        page.set_input_files("input[type=file][name=file]", str(bad))
        expect(page.locator("#file-name")).to_contain_text("incomplete.zip")
        page.get_by_role("button", name=re.compile(r"^Check only")).click()
        problems = page.get_by_test_id("problems")
        expect(problems).to_be_visible()
        expect(problems).to_contain_text(missing)
        screenshot("07-submit-problems")
        screenshot("07-submit-problems", narrow=True)

        # Upload the good archive and watch it get scored (htmx polls the status card).
        page.set_input_files("input[type=file][name=file]", str(good))
        page.locator("input[name=method_name]").fill("SEAM + DeepLab v3+")
        page.locator("textarea[name=description]").fill("Pseudo-labels from CAMs, refined.")
        page.get_by_role("button", name="Upload and score").click()
        expect(page).to_have_url(re.compile(r"/submissions/\d+$"))
        expect(page.get_by_test_id("status")).to_have_text("scored", timeout=60_000)
        expect(page.get_by_test_id("miou")).to_have_text(expected_miou)
        screenshot("08-submission-scored")
        screenshot("08-submission-scored", narrow=True)

        # The leaderboard: our team first; sorting by a column reorders the rows.
        page.get_by_role("button", name="Leaderboard", exact=True).click()
        board = page.get_by_test_id("leaderboard")
        first = board.locator("tbody tr").first
        expect(first.locator("td.rank")).to_have_text("1")
        expect(first).to_contain_text(TEAM)
        expect(first).to_contain_text(expected_miou)
        expect(board.locator("tr.own-row")).to_contain_text(TEAM)
        expect(board.locator("tr.baseline-row")).to_contain_text("Baseline")
        screenshot("09-leaderboard")
        screenshot("09-leaderboard", narrow=True)
        board.get_by_role("link", name="Team", exact=True).click()
        expect(page).to_have_url(re.compile(r"sort=team&order=asc"))
        teams = page.get_by_test_id("leaderboard").locator("tbody td.team strong")
        expect(teams).to_have_count(4)
        shown = teams.all_inner_texts()
        assert shown == sorted(shown, key=str.casefold)
        assert shown[0] == "Alveolar Net"
        screenshot("10-leaderboard-sorted")

        # The team's history lists the scored submission with its scores.
        page.goto(f"{stack.base_url}/challenges/wsss4luad/phases/validation/submissions")
        history = page.get_by_test_id("history")
        expect(history.locator("tbody tr")).to_have_count(1)
        expect(history).to_contain_text("scored")
        expect(history).to_contain_text(expected_miou)
        screenshot("11-history")

    assert console_errors == []
