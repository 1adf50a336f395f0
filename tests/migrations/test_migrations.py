"""The migrations build exactly the models' schema, and go down and up again cleanly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app import migrate
from app.db import Base, make_engine


def test_schema_matches_the_models(database_url):
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_downgrade_to_base_and_upgrade_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'roundtrip.sqlite'}"
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    migrate.upgrade(url)
    engine = make_engine(url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_downgrade_and_upgrade_on_postgresql():
    from tests.databases import postgres_database

    with postgres_database() as url:
        migrate.upgrade(url)
        migrate.downgrade(url, "base")
        migrate.upgrade(url)
        engine = make_engine(url)
        assert "submission" in inspect(engine).get_table_names()
        engine.dispose()
