"""The company directory from LDAP / Active Directory: `firstline people sync-ldap`.

Every entry under `ldap_base_dn` matching `ldap_filter` becomes a row of the same import as the CSV (people.directory:
the same checks, the same upsert, a report per entry), read with paged searches so a directory of any size fits. The
attribute of each column comes from `ldap_attributes` ("email=mail,name=cn,…"; the defaults suit Active Directory).
People an earlier sync brought in who are no longer in the directory (a leaver, a disabled AD account) are made
inactive — never deleted: their tickets and history stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.inputs import normalize_ref
from people.directory import REQUIRED_COLUMNS, ImportReport, import_rows
from people.models import Person

PAGE_SIZE = 500
AD_ACCOUNT_DISABLED = 0x2  # userAccountControl: ACCOUNTDISABLE


class LdapSyncError(Exception):
    """The directory could not be read (unreachable, refused the bind, bad base DN): nothing was changed."""


@dataclass
class LdapConfig:
    url: str
    bind_dn: str | None
    bind_password: str | None
    base_dn: str
    search_filter: str
    attributes: dict[str, str]  # column → LDAP attribute ("" = not in this directory)
    timeout: int = 15  # seconds (ldap3 wants whole seconds for the receive timeout)


def parse_attributes(spec: str) -> dict[str, str]:
    """'email=mail,name=cn' → {"email": "mail", "name": "cn", …}; ValueError names an unknown column."""
    known = set(REQUIRED_COLUMNS) | {"active"}
    out: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        column, _, attribute = part.partition("=")
        column = column.strip().lower()
        if column not in known:
            raise ValueError(f"ldap_attributes: unknown column {column!r} (use {', '.join(sorted(known))})")
        out[column] = attribute.strip()
    if not out.get("email") and not out.get("telegram_id") and not out.get("slack_id") and not out.get("phone"):
        raise ValueError("ldap_attributes: map at least email (or a phone, telegram_id or slack_id) to an attribute")
    return out


def _first(entry: dict[str, Any], attribute: str) -> str:
    if not attribute:
        return ""
    value = entry.get(attribute)
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def _row(entry: dict[str, Any], attributes: dict[str, str]) -> dict[str, str]:
    row = {column: _first(entry, attributes.get(column, "")) for column in REQUIRED_COLUMNS}
    row["vip"] = row["vip"] or "no"
    active = _first(entry, attributes.get("active", ""))
    if active.isdigit():  # Active Directory's userAccountControl flags
        row["active"] = "no" if int(active) & AD_ACCOUNT_DISABLED else "yes"
    elif active:
        row["active"] = active
    return row


def read_directory(config: LdapConfig) -> list[tuple[str, dict[str, str]]]:
    """(DN, row) for every matching entry, read page by page."""
    wanted = sorted({a for a in config.attributes.values() if a})
    server = ldap3.Server(config.url, connect_timeout=config.timeout, get_info=ldap3.NONE)
    try:
        conn = ldap3.Connection(
            server,
            user=config.bind_dn,
            password=config.bind_password,
            auto_bind=True,
            receive_timeout=config.timeout,
            read_only=True,
            raise_exceptions=True,
        )
    except LDAPException as exc:
        raise LdapSyncError(f"cannot bind to {config.url} as {config.bind_dn or 'anonymous'}: {exc}") from exc
    try:
        entries = conn.extend.standard.paged_search(
            config.base_dn,
            config.search_filter,
            search_scope=ldap3.SUBTREE,
            attributes=wanted,
            paged_size=PAGE_SIZE,
            generator=True,
        )
        rows = [
            (e["dn"], _row(dict(e.get("attributes") or {}), config.attributes))
            for e in entries
            if e.get("type") == "searchResEntry"
        ]
    except LDAPException as exc:
        raise LdapSyncError(f"searching {config.base_dn} with {config.search_filter} failed: {exc}") from exc
    finally:
        conn.unbind()
    return rows


def sync(session: Session, config: LdapConfig) -> tuple[ImportReport, int]:
    """Upsert everyone in the directory; deactivate people an earlier sync brought in who are gone. Returns the
    report and how many were deactivated."""
    rows = read_directory(config)
    if not rows:  # a wrong base DN or filter must not make the whole company inactive
        raise LdapSyncError(f"nobody under {config.base_dn} matches {config.search_filter}: nothing was changed")
    report = import_rows(session, rows, source="ldap")
    # Still in the directory (even if their entry failed a check this time): only the absent are deactivated.
    present = {normalize_ref("email", row["email"]) for _, row in rows if row.get("email")}
    gone = 0
    for person in session.scalars(select(Person).where(Person.source == "ldap", Person.active.is_(True))):
        if person.email and person.email not in present:
            person.active = False
            gone += 1
    session.flush()
    return report, gone
