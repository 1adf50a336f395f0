"""Settings, read once from the environment (prefix WSSS4LUAD_) or a .env file.

The embedded default needs no server: SQLite, and kombu's filesystem transport as the
Celery broker, both under DATA_DIR (one host). Production (ENVIRONMENT=production)
refuses to start on those defaults, with a short or default secret key, or with debug on.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "insecure-development-key-change-me"
EMBEDDED_BROKER_URL = "filesystem://localhost//"
MIN_SECRET_KEY_LENGTH = 32


class Settings(BaseSettings):
    """Every setting of the server and its workers."""

    model_config = SettingsConfigDict(env_prefix="WSSS4LUAD_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    debug: bool = False
    data_dir: Path = Path("var/data")
    database_url: str = ""
    broker_url: str = ""
    secret_key: str = DEV_SECRET_KEY
    base_url: str = "http://127.0.0.1:8000"

    session_idle_minutes: int = Field(default=60 * 24 * 7, ge=5)
    session_max_days: int = Field(default=30, ge=1)
    login_failures_allowed: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)

    web_threads: int = Field(default=40, ge=2, le=1000)

    max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    scoring_time_limit_s: int = Field(default=300, ge=10)
    max_checkpoint_bytes: int = Field(default=2 * 1024**3, ge=1024)
    baseline_time_limit_s: int = Field(default=1800, ge=10)
    scoring_max_attempts: int = Field(default=3, ge=1)
    reconcile_every_s: int = Field(default=30, ge=1)
    stale_queued_after_s: int = Field(default=60, ge=1)

    metrics_token: str = ""
    """Bearer token that /metrics asks for; without one, production serves no metrics."""
    api_docs: bool = True
    """Serve /docs and /openapi.json (the API's reference for participants' scripts)."""

    email_backend: Literal["console", "file"] = "console"
    email_from: str = "WSSS4LUAD <noreply@localhost>"

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> Self:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'wsss4luad.sqlite').resolve()}"
        if not self.broker_url:
            self.broker_url = EMBEDDED_BROKER_URL
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        if self.environment != "production":
            return self
        problems = []
        if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            problems.append(
                f"WSSS4LUAD_SECRET_KEY must be a random string of at least "
                f"{MIN_SECRET_KEY_LENGTH} characters"
            )
        if self.database_url.startswith("sqlite"):
            problems.append("WSSS4LUAD_DATABASE_URL must point to PostgreSQL, not SQLite")
        if self.uses_embedded_broker:
            problems.append("WSSS4LUAD_BROKER_URL must point to Redis, not the embedded broker")
        if self.debug:
            problems.append("WSSS4LUAD_DEBUG must be off")
        if not self.base_url.startswith("https://"):
            problems.append("WSSS4LUAD_BASE_URL must be https:// (cookies are sent Secure)")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self

    @property
    def uses_embedded_broker(self) -> bool:
        """Return True when tasks travel through files under DATA_DIR (one host only)."""
        return self.broker_url == EMBEDDED_BROKER_URL

    @property
    def broker_dir(self) -> Path:
        """Return the folder of the embedded broker's message files."""
        return (self.data_dir / "broker").resolve()

    @property
    def is_sqlite(self) -> bool:
        """Return True on the embedded database."""
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        """Return True when cookies must carry the Secure flag (served over HTTPS)."""
        return self.base_url.startswith("https://")


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings."""
    return Settings()
