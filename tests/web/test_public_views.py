"""The public leaderboard views served again to visitors without a session or a token
(app.web.public_cache): current after every score and every organizer change, never a
hidden board for anyone but organizers, and nothing of one viewer shown to another."""

import asyncio
import re
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import event

from app.db import utcnow
from app.models import Submission
from app.services import challenges as challenges_service
from app.services import leaderboard as leaderboard_service
from app.web.public_cache import RenderedViews, SharedRenders, StampReader
from tests.factories import make_team, make_user
from tests.web.conftest import csrf, log_in

PAGE = "/challenges/wsss4luad/phases/validation/leaderboard"
API = "/api/v1/challenges/wsss4luad/phases/validation/leaderboard"
T = TypeVar("T")


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on an event loop of its own thread (an earlier test in this process,
    a browser test for one, may have left an event loop running in this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def views(app) -> RenderedViews[bytes]:
    stored: RenderedViews[bytes] = app.state.public_views
    return stored


def add_score(session, phase, team_name, miou, email):
    """Record a scored submission as the scoring worker does (the version is bumped)."""
    user = make_user(session, email=email, name=team_name)
    team = make_team(session, phase.challenge, user, name=team_name)
    session.add(
        Submission(
            phase_id=phase.id,
            team_id=team.id,
            user_id=user.id,
            status="scored",
            archive_key="x.zip",
            miou=miou,
            created_at=utcnow(),
        )
    )
    session.flush()
    leaderboard_service.invalidate(session=session, phase=phase)
    session.commit()


def test_anonymous_page_is_served_again_until_a_score_lands(app, client, board, session):
    phase, _ = board
    first = client.get(PAGE)
    hits = views(app).hits
    again = client.get(PAGE)
    assert views(app).hits == hits + 1
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["content-type"] == "text/html; charset=utf-8"
    assert "x-content-type-options" in again.headers  # the middlewares still apply
    assert "Delta" not in again.text
    add_score(session, phase, "Delta", 0.95, "delta@example.org")
    fresh = client.get(PAGE)
    assert "Delta" in fresh.text
    assert fresh.context["rows"][0].team == "Delta"
    assert "Delta" in client.get(PAGE).text  # and that page is the one served again


def test_anonymous_api_answer_is_served_again_until_a_score_lands(app, client, board, session):
    phase, _ = board
    first = client.get(API)
    hits = views(app).hits
    again = client.get(API)
    assert views(app).hits == hits + 1
    assert again.content == first.content
    assert again.headers["content-type"] == "application/json"
    assert [row["team"] for row in again.json()["rows"]] == ["A&B_team", "Beta", "Gamma"]
    add_score(session, phase, "Delta", 0.95, "delta@example.org")
    assert client.get(API).json()["rows"][0]["team"] == "Delta"


def test_each_sort_order_is_its_own_page(client, board):
    by_rank = client.get(PAGE).context["rows"]
    by_team = client.get(f"{PAGE}?sort=team&order=desc").context["rows"]
    assert [r.team for r in by_rank] == ["A&B_team", "Beta", "Gamma"]
    assert [r.team for r in by_team] == ["Gamma", "Beta", "A&B_team"]
    assert "Gamma" in client.get(f"{PAGE}?sort=team&order=desc").text.split("Beta")[0]
    assert "A&amp;B_team" in client.get(PAGE).text.split("Beta")[0]


def test_a_board_hidden_after_it_was_served_is_hidden_at_once(app, client, board, session):
    phase, _ = board
    assert "Beta" in client.get(PAGE).text
    assert client.get(API).status_code == 200
    challenges_service.configure_phase(session=session, phase=phase, visibility="organizers")
    session.commit()
    hidden = client.get(PAGE)
    assert hidden.context["visible"] is False
    assert "Beta" not in hidden.text
    assert "Beta" not in client.get(PAGE).text  # also when served again
    assert client.get(API).status_code == 401
    assert client.get(API).status_code == 401


def test_a_hidden_board_changed_without_a_version_bump_is_still_hidden(client, board, session):
    """The stamp holds the visibility itself, not only the version that bumps with it."""
    phase, _ = board
    assert "Beta" in client.get(PAGE).text
    phase.leaderboard_visibility = "after_end"
    phase.ends_at = utcnow() + timedelta(days=1)
    session.commit()
    assert "Beta" not in client.get(PAGE).text
    assert client.get(API).status_code == 401


def test_an_after_end_board_opens_when_the_phase_ends_and_not_before(
    client, board, session, monkeypatch
):
    phase, _ = board
    phase.leaderboard_visibility = "after_end"
    phase.ends_at = utcnow() + timedelta(hours=1)
    session.commit()
    for _ in range(2):
        assert "Beta" not in client.get(PAGE).text
        assert client.get(API).status_code == 401
    later = utcnow() + timedelta(hours=2)
    monkeypatch.setattr(challenges_service, "utcnow", lambda: later)
    for _ in range(2):
        assert "Beta" in client.get(PAGE).text
        assert client.get(API).status_code == 200
    monkeypatch.undo()  # the clock back before the end: the stored board is not served
    assert "Beta" not in client.get(PAGE).text
    assert client.get(API).status_code == 401


def test_organizers_see_a_hidden_board_and_visitors_after_them_do_not(client, board, session):
    phase, _ = board
    phase.leaderboard_visibility = "organizers"
    session.commit()
    log_in(client, "org@example.org")
    assert "Beta" in client.get(PAGE).text
    client.cookies.clear()
    for _ in range(2):
        assert "Beta" not in client.get(PAGE).text
        assert client.get(API).status_code == 401


def test_logged_in_viewers_get_their_own_page(app, client, board):
    anonymous = client.get(PAGE).text
    assert "Log out" not in anonymous and 'name="csrf_token"' not in anonymous
    log_in(client, "u1@example.org")  # Beta's member
    mine = client.get(PAGE)
    assert "Log out" in mine.text
    assert mine.context["user"].email == "u1@example.org"
    token = re.search(r'name="csrf_token" value="([^"]+)"', mine.text)
    assert token and token.group(1) == csrf(client, PAGE)
    assert "badge-you" in mine.text and "own-row" in mine.text
    client.cookies.clear()
    served = client.get(PAGE).text
    assert "Log out" not in served and "badge-you" not in served and "Beta</span>" not in served
    assert 'name="csrf_token"' not in served


def test_two_visitors_get_the_same_bytes(app, client, board):
    """Nothing of one visitor (their CSRF seed, their request id) is in a shared page: two
    visitors' pages, each rendered for them, are the same bytes."""
    one = client.get(PAGE, headers={"X-Request-ID": "one"})
    client.cookies.clear()
    app.state.public_views = RenderedViews()  # render again, for the second visitor
    other = client.get(PAGE, headers={"X-Request-ID": "other"})
    assert one.cookies.get("wsss_csrf") != other.cookies.get("wsss_csrf")
    assert other.context["rows"]  # rendered, not served again
    assert one.content == other.content


def test_a_bad_token_is_refused_even_when_the_answer_is_stored(client, board):
    assert client.get(API).status_code == 200
    bad = client.get(API, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_a_renamed_challenge_or_phase_shows_at_once(client, board, session):
    phase, _ = board
    assert "Validation" in client.get(PAGE).text
    challenges_service.describe_challenge(challenge=phase.challenge, title="Renamed challenge")
    session.commit()
    assert "Renamed challenge" in client.get(PAGE).text
    phase.title = "Final round"
    session.commit()
    assert "Final round leaderboard" in client.get(PAGE).text


def test_an_unknown_phase_is_still_404(client, board):
    for _ in range(2):
        assert client.get("/challenges/wsss4luad/phases/nope/leaderboard").status_code == 404
        assert client.get("/challenges/nope/phases/validation/leaderboard").status_code == 404
        assert client.get("/api/v1/challenges/wsss4luad/phases/nope/leaderboard").status_code == 404


def test_stored_views_are_bounded():
    stored = RenderedViews[bytes](max_entries=3)
    for index in range(5):
        stored.put(index, b"x")
    assert len(stored) == 3
    assert stored.get(0) is None and stored.get(4) == b"x"


def test_concurrent_requests_share_stamp_reads_and_each_sees_earlier_commits(
    board, session, sessions
):
    phase, _ = board
    engine = sessions.kw["bind"]
    statements = []

    def count(_conn, _cursor, statement, *_args):
        if "leaderboard_version" in statement:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    reader = StampReader()

    async def many():
        return await asyncio.gather(
            *(reader.read(sessions, "wsss4luad", "validation") for _ in range(50))
        )

    try:
        stamps = run_async(many)
        assert len(set(stamps)) == 1 and stamps[0] is not None
        assert len(statements) <= 2  # one read, perhaps a second for latecomers
        before = stamps[0].phases
        add_score(session, phase, "Delta", 0.95, "delta@example.org")
        after = run_async(lambda: reader.read(sessions, "wsss4luad", "validation"))
        assert after is not None and after.phases != before
        assert run_async(lambda: reader.read(sessions, "wsss4luad", "nope")) is None
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_concurrent_visitors_after_a_score_share_one_render(app, client, board, monkeypatch):
    import httpx2

    from app.web.pages import challenges as pages

    renders = []
    render = pages._leaderboard_page

    def counting(*args, **kwargs):
        renders.append(1)
        return render(*args, **kwargs)

    monkeypatch.setattr(pages, "_leaderboard_page", counting)

    async def visitors():
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as web:
            return await asyncio.gather(*(web.get(PAGE) for _ in range(20)))

    pages_seen = run_async(visitors)
    assert {page.status_code for page in pages_seen} == {200}
    assert len({page.content for page in pages_seen}) == 1
    assert "Beta" in pages_seen[0].text
    assert len(renders) == 1


def test_shared_renders_run_once_per_key_and_forget_it_after():
    shared = SharedRenders()
    calls = []

    async def render():
        calls.append(1)
        await asyncio.sleep(0.01)
        return b"page"

    async def many():
        return await asyncio.gather(*(shared.run("key", render) for _ in range(10)))

    results = run_async(many)
    assert [body for body, _ in results] == [b"page"] * 10
    assert sum(started for _, started in results) == 1 and len(calls) == 1
    run_async(many)
    assert len(calls) == 2  # a later miss renders again


CHALLENGE = "/challenges/wsss4luad"


def test_anonymous_challenge_page_is_served_again_until_its_texts_or_phases_change(
    app, client, board, session
):
    phase, _ = board
    first = client.get(CHALLENGE)
    assert first.context["challenge"].slug == "wsss4luad"
    hits = views(app).hits
    again = client.get(CHALLENGE)
    assert views(app).hits == hits + 1
    assert again.content == first.content
    assert again.headers["content-type"] == "text/html; charset=utf-8"
    add_score(session, phase, "Delta", 0.95, "delta@example.org")
    assert client.get(CHALLENGE).content == first.content  # a score changes nothing here
    assert views(app).hits == hits + 2
    challenges_service.describe_challenge(
        challenge=phase.challenge, description_md="# Updated welcome"
    )
    session.commit()
    assert "<h1>Updated welcome</h1>" in client.get(CHALLENGE).text
    phase.daily_limit = 17
    session.commit()
    assert "17 per UTC day" in client.get(CHALLENGE).text
    assert "17 per UTC day" in client.get(CHALLENGE).text  # and that page is served again


def test_each_tab_of_the_challenge_page_is_its_own_page(client, board, session):
    phase, _ = board
    challenges_service.describe_challenge(challenge=phase.challenge, rules_md="No *peeking*.")
    session.commit()
    overview = client.get(CHALLENGE).text
    rules = client.get(f"{CHALLENGE}?tab=rules").text
    assert "<em>peeking</em>" in rules and "<em>peeking</em>" not in overview
    assert client.get(f"{CHALLENGE}?tab=rules").text == rules


def test_the_challenge_page_shows_a_phase_opening_when_it_opens(
    client, board, session, monkeypatch
):
    phase, _ = board
    phase.starts_at = utcnow() + timedelta(hours=1)
    session.commit()
    for _ in range(2):
        assert "badge-upcoming" in client.get(CHALLENGE).text
    later = utcnow() + timedelta(hours=2)
    monkeypatch.setattr(challenges_service, "utcnow", lambda: later)
    for _ in range(2):
        page = client.get(CHALLENGE).text
        assert "badge-open" in page and "badge-upcoming" not in page


def test_logged_in_visitors_get_their_own_challenge_page(client, board):
    anonymous = client.get(CHALLENGE).text
    assert "Sign up to take part" in anonymous
    log_in(client, "u1@example.org")
    mine = client.get(CHALLENGE)
    assert "Team Beta" in mine.text and "Log out" in mine.text
    client.cookies.clear()
    served = client.get(CHALLENGE).text
    assert "Team Beta" not in served and "Log out" not in served
    assert client.get("/challenges/nope").status_code == 404


def test_challenge_stamps_read_and_built_from_objects_agree(board, session):
    phase, _ = board
    read = challenges_service.read_challenge_stamp(session=session, slug="wsss4luad")
    assert read == challenges_service.challenge_stamp_of(phase.challenge)
    assert challenges_service.read_challenge_stamp(session=session, slug="nope") is None


def test_a_stored_view_is_served_before_routing(app, client, board, monkeypatch):
    from app.web import public_cache

    first = client.get(PAGE)
    api_first = client.get(API)
    routed = []
    original = public_cache.CachedView.__call__

    async def counting(self, view, render):
        routed.append(view)
        return await original(self, view, render)

    monkeypatch.setattr(public_cache.CachedView, "__call__", counting)
    again, api_again = client.get(PAGE), client.get(API)
    assert routed == []  # neither reached its route
    assert (again.content, api_again.content) == (first.content, api_first.content)
    assert again.headers["content-type"] == "text/html; charset=utf-8"
    assert api_again.headers["content-type"] == "application/json"
    assert "x-content-type-options" in again.headers
    metrics = client.get("/metrics").text
    assert 'route="/challenges/{slug}/phases/{phase_slug}/leaderboard"' in metrics
    assert 'route="unmatched"' not in metrics


def test_a_caller_with_a_session_or_token_always_reaches_the_route(client, board, monkeypatch):
    from app.web import public_cache

    client.get(PAGE)
    client.get(API)
    routed = []
    original = public_cache.CachedView.__call__

    async def counting(self, view, render):
        routed.append(view)
        return await original(self, view, render)

    monkeypatch.setattr(public_cache.CachedView, "__call__", counting)
    client.get(PAGE, headers={"Cookie": "wsss_session=forged"})
    assert client.get(API, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert routed == [None, None]  # both reached their routes, and neither was shared


def test_a_render_during_which_the_phase_ended_is_not_stored(
    app, client, board, session, monkeypatch
):
    from app.web import public_cache

    phase, _ = board
    phase.leaderboard_visibility = "after_end"
    phase.ends_at = utcnow() + timedelta(hours=1)
    session.commit()
    before, after = utcnow(), utcnow() + timedelta(hours=2)
    monkeypatch.setattr(public_cache, "utcnow", lambda: before)  # the render began before
    monkeypatch.setattr(challenges_service, "utcnow", lambda: after)  # and ended after the end
    stored = len(views(app))
    assert "Beta" in client.get(PAGE).text
    assert len(views(app)) == stored  # either moment may be on the page: keep neither
    monkeypatch.setattr(public_cache, "utcnow", lambda: after)
    assert client.get(PAGE).context["rows"]  # rendered again, now stored
    assert len(views(app)) == stored + 1
