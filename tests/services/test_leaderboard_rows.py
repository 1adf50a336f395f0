"""Leaderboard rows: which submission of a team ranks under each counting rule, what is
left out, and the row cache (recomputed once per version, also under concurrency)."""

import threading
from datetime import timedelta
from typing import Any

import pytest

from app.db import utcnow
from app.models import Submission
from app.services import leaderboard as leaderboard_service
from app.services import teams as teams_service
from tests.factories import make_phase, make_team, make_user

START = utcnow() - timedelta(hours=1)


@pytest.fixture
def scored(session, storage, tmp_path):
    """Two teams and a baseline, several scored submissions each, some not counted."""
    phase, _ = make_phase(session, storage, tmp_path)
    ann = make_team(session, phase.challenge, make_user(session, "ann@x.org", "Ann"), "Ann")
    bob = make_team(session, phase.challenge, make_user(session, "bob@x.org", "Bob"), "Bob")
    baseline = teams_service.ensure_baseline_team(session=session, challenge=phase.challenge)
    entries: list[tuple[Any, int, float | None, dict[str, Any]]] = [
        # team, minutes after START, miou, extra fields
        (ann, 0, 0.60, {}),
        (ann, 1, 0.80, {"selected": True}),
        (ann, 2, 0.70, {}),
        (ann, 3, 0.99, {"hidden": True}),
        (ann, 4, 0.98, {"disqualified": True}),
        (ann, 5, None, {"status": "failed"}),
        (bob, 0, 0.80, {}),
        (bob, 6, 0.65, {"method_name": "Bob's last"}),
        (baseline, 0, 0.75, {}),
    ]
    for team, minutes, miou, extra in entries:
        fields = {"status": "scored", **extra}
        session.add(
            Submission(
                phase_id=phase.id,
                team_id=team.id,
                archive_key="x.zip",
                miou=miou,
                iou_tumor=miou,
                iou_stroma=None,
                iou_normal=miou,
                result={"per_image": {"big": list(range(100))}},
                created_at=START + timedelta(minutes=minutes),
                **fields,
            )
        )
    session.flush()
    leaderboard_service.invalidate(session=session, phase=phase)
    session.commit()
    return phase


def table(rows):
    return [(row.rank, row.team, row.miou, row.entries, row.method_name) for row in rows]


def test_best_counts_each_team_s_best_and_ties_go_to_the_earlier(session, scored):
    rows = leaderboard_service.compute_leaderboard(session=session, phase=scored)
    # Ann's 0.80 (minute 1) and Bob's 0.80 (minute 0) tie: Bob submitted it first.
    assert table(rows) == [
        (1, "Bob", 0.80, 2, ""),
        (2, "Ann", 0.80, 3, ""),
        (None, "Baseline (organizers)", 0.75, 1, ""),
    ]
    assert rows[0].stroma is None and rows[0].tumor == 0.80
    assert rows[1].submitted_at == START + timedelta(minutes=1)


def test_latest_and_selected_rules(session, scored):
    scored.counting = "latest"
    assert table(leaderboard_service.compute_leaderboard(session=session, phase=scored)) == [
        (None, "Baseline (organizers)", 0.75, 1, ""),
        (1, "Ann", 0.70, 3, ""),
        (2, "Bob", 0.65, 2, "Bob's last"),
    ]
    scored.counting = "selected"  # Ann chose her 0.80; Bob chose none: his latest counts
    assert table(leaderboard_service.compute_leaderboard(session=session, phase=scored)) == [
        (1, "Ann", 0.80, 3, ""),
        (None, "Baseline (organizers)", 0.75, 1, ""),
        (2, "Bob", 0.65, 2, "Bob's last"),
    ]


def test_rows_are_computed_once_per_version_even_by_concurrent_readers(
    sessions, scored, monkeypatch
):
    calls = []
    compute = leaderboard_service.compute_leaderboard

    def counting(**kwargs):
        calls.append(1)
        return compute(**kwargs)

    monkeypatch.setattr(leaderboard_service, "compute_leaderboard", counting)
    results = []
    start = threading.Barrier(4)

    def read():
        with sessions() as session:
            phase = session.get(type(scored), scored.id)
            start.wait()
            results.append(leaderboard_service.leaderboard(session=session, phase=phase))
            session.commit()

    if sessions.kw["bind"].dialect.name == "sqlite":
        pytest.skip("SQLite serialises transactions: no two readers are ever concurrent")
    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 4 and len({id(rows) for rows in results}) == 1
    assert len(calls) == 1
    with sessions() as session:
        phase = session.get(type(scored), scored.id)
        leaderboard_service.invalidate(session=session, phase=phase)
        session.commit()
        assert leaderboard_service.leaderboard(session=session, phase=phase) == results[0]
    assert len(calls) == 2
