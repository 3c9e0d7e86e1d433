"""OpenID Connect sign-in with the company's identity provider (Authlib): the authorization-code flow with PKCE,
and the ID token checked (signature against the provider's keys, issuer, audience, expiry, nonce).

The flow's state (state, nonce, PKCE verifier, where to go afterwards) travels in a short-lived cookie signed with
the desk's secret, so any process can finish a sign-in another one started and nothing is kept server-side.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from core.settings import Settings

STATE_COOKIE = "fl_oidc"
STATE_MAX_AGE = 600  # ten minutes to finish signing in at the provider
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]  # never "none" or HS*
_TIMEOUT = 10.0


class OidcError(Exception):
    """Signing in did not work; the message is safe to show to the user."""


@dataclass(frozen=True)
class Pending:
    state: str
    nonce: str
    verifier: str
    purpose: str  # console | chat
    created: float


def _sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), b"oidc-state:" + payload, hashlib.sha256).hexdigest()


def pack(secret: str, pending: Pending) -> str:
    raw = json.dumps(pending.__dict__, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode() + "." + _sign(secret, raw)


def unpack(secret: str, value: str | None) -> Pending:
    if not value or "." not in value:
        raise OidcError("the sign-in took too long or was started elsewhere: start it again")
    blob, _, mac = value.rpartition(".")
    try:
        raw = base64.urlsafe_b64decode(blob.encode())
        ok = hmac.compare_digest(mac, _sign(secret, raw))
        pending = Pending(**json.loads(raw)) if ok else None
    except (ValueError, TypeError):
        pending = None
    if pending is None or time.time() - pending.created > STATE_MAX_AGE:
        raise OidcError("the sign-in took too long or was started elsewhere: start it again")
    return pending


class OidcClient:
    def __init__(self, settings: Settings) -> None:
        assert settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self._client_secret = settings.oidc_client_secret
        self.scopes = settings.oidc_scopes
        self._metadata: dict[str, Any] | None = None

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, fetched once (a provider that is down gives a clear error)."""
        if self._metadata is None:
            try:
                r = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=_TIMEOUT)
                r.raise_for_status()
                self._metadata = r.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise OidcError(
                    "the company sign-in service cannot be reached: try again, or use your password"
                ) from exc
        return self._metadata

    def _client(self, redirect_uri: str) -> OAuth2Client:
        return OAuth2Client(
            self.client_id,
            self._client_secret.get_secret_value(),
            scope=self.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=_TIMEOUT,
        )

    def start(self, redirect_uri: str, purpose: str) -> tuple[str, Pending]:
        """The provider's sign-in URL and what the callback must find in the state cookie."""
        meta = self.metadata()
        pending = Pending(
            secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48), purpose, time.time()
        )
        with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"], state=pending.state, nonce=pending.nonce, code_verifier=pending.verifier
            )
        return url, pending

    def finish(self, redirect_uri: str, params: dict[str, str], pending: Pending) -> dict[str, Any]:
        """The verified claims of the signed-in user (ID token, completed from userinfo)."""
        if params.get("error"):
            raise OidcError(f"the company sign-in refused: {params.get('error_description') or params['error']}")
        if not params.get("code") or not hmac.compare_digest(params.get("state", ""), pending.state):
            raise OidcError("the sign-in answer does not belong to this browser: start again")
        meta = self.metadata()
        try:
            with self._client(redirect_uri) as client:
                token = client.fetch_token(
                    meta["token_endpoint"],
                    code=params["code"],
                    code_verifier=pending.verifier,
                    grant_type="authorization_code",
                )
                keys = KeySet.import_key_set(httpx.get(meta["jwks_uri"], timeout=_TIMEOUT).json())
                id_token = jwt.decode(token["id_token"], keys, algorithms=ID_TOKEN_ALGORITHMS)
                # Signature checked above; now whose token it is, for whom, for which sign-in, and still valid.
                jwt.JWTClaimsRegistry(
                    leeway=60,
                    iss={"essential": True, "value": meta.get("issuer", self.issuer)},
                    aud={"essential": True, "value": self.client_id},
                    nonce={"essential": True, "value": pending.nonce},
                    sub={"essential": True},
                    exp={"essential": True},
                ).validate(id_token.claims)
                found: dict[str, Any] = dict(id_token.claims)
                if meta.get("userinfo_endpoint"):
                    info = client.get(meta["userinfo_endpoint"]).json()
                    if info.get("sub") == found["sub"]:
                        found = {**info, **found}
        except (httpx.HTTPError, JoseError, KeyError, ValueError) as exc:
            raise OidcError("the company sign-in answer could not be verified: start again") from exc
        return found
