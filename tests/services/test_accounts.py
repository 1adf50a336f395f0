"""Account services: side effects wait for the transaction that makes them true."""

import json

from sqlalchemy import func, select

from app.models import PasswordReset
from app.services import accounts as accounts_service
from app.services.mail import FileMailer
from tests.factories import make_user


def outbox_messages(folder):
    return [json.loads(path.read_text()) for path in folder.glob("*.json")]


def resets(session):
    return session.scalar(select(func.count()).select_from(PasswordReset))


def test_a_reset_link_is_mailed_only_once_its_token_is_committed(session, settings):
    outbox = settings.data_dir / "outbox"
    mailer = FileMailer(outbox)
    make_user(session)
    session.commit()

    accounts_service.request_password_reset(
        session=session, email="pat@example.org", mailer=mailer, base_url="http://x"
    )
    assert outbox_messages(outbox) == [], "nothing is sent inside the transaction"
    session.rollback()
    assert outbox_messages(outbox) == [], "a rolled-back request sends nothing"
    assert resets(session) == 0

    accounts_service.request_password_reset(
        session=session, email="pat@example.org", mailer=mailer, base_url="http://x"
    )
    session.commit()
    [message] = outbox_messages(outbox)
    assert message["to"] == "pat@example.org"
    assert "http://x/password/reset/" in message["body"]
    assert resets(session) == 1


def test_no_mail_for_an_unknown_address(session, settings):
    outbox = settings.data_dir / "outbox"
    accounts_service.request_password_reset(
        session=session, email="nobody@example.org", mailer=FileMailer(outbox), base_url="http://x"
    )
    session.commit()
    assert outbox_messages(outbox) == []
