"""The company directory into Firstline: `firstline people import FILE.csv`.

One row a person, columns (header names, any order, case-insensitive) at least
`email,name,department,organisation,phone,telegram_id,slack_id,language,vip` (`active` optional). A row is
matched to a person by e-mail, else by any of its identities, so importing the same file twice changes nothing
and an edited file updates only what changed (an upsert). Each row succeeds or fails on its own: a failed row
(a malformed e-mail, an identity that already belongs to someone else, …) is reported with its line number and
the rest go in. An organisation is created the first time a row names it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.inputs import clean_text, normalize_ref
from people.models import LANGUAGES, Organisation, Person, PersonIdentity

REQUIRED_COLUMNS = (
    "email",
    "name",
    "department",
    "organisation",
    "phone",
    "telegram_id",
    "slack_id",
    "language",
    "vip",
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?\d{5,20}$")
_TRUE, _FALSE = {"1", "yes", "true", "y", "да"}, {"", "0", "no", "false", "n", "нет"}
MAX_ROWS = 100_000


class DirectoryFileError(ValueError):
    """The file as a whole cannot be read (not CSV, required columns missing): nothing was imported."""


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[tuple[int | str, str]] = field(default_factory=list)  # (line or DN, reason)
    people: list[str] = field(default_factory=list)  # the e-mail (else first identity) of every row that went in

    def summary(self) -> str:
        return f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, failed {len(self.failed)}"


def canonical_phone(value: str) -> str:
    """How a phone number is compared: the digits and a leading +, as the SMS channel stores a sender."""
    return re.sub(r"[ ()\-.]", "", value.strip())


def organisation_named(session: Session, name: str) -> Organisation:
    key = " ".join(name.split()).casefold()
    org = session.scalar(select(Organisation).where(Organisation.name_key == key))
    if org is None:
        org = Organisation(name=" ".join(name.split()), name_key=key)
        session.add(org)
        session.flush()
    return org


@dataclass
class _Row:
    email: str | None
    name: str
    department: str
    organisation: str
    phone: str | None
    language: str | None
    vip: bool
    active: bool
    identities: list[tuple[str, str]]


def _parse(raw: dict[str, str]) -> _Row:
    """One row, checked; ValueError says what is wrong in words for the report."""
    get = {k: clean_text(v or "").strip() for k, v in raw.items()}
    email = get.get("email") or None
    if email is not None:
        if not _EMAIL.match(email):
            raise ValueError(f"'{email}' is not an e-mail address")
        email = normalize_ref("email", email)
    phone = canonical_phone(get["phone"]) if get.get("phone") else None
    if phone is not None and not _PHONE.match(phone):
        raise ValueError(f"'{get['phone']}' is not a phone number")
    telegram = get.get("telegram_id") or None
    if telegram is not None and not telegram.isdigit():
        raise ValueError(f"telegram_id '{telegram}' must be the numeric Telegram user id")
    slack = get.get("slack_id") or None
    if slack is not None and not re.fullmatch(r"[UW][A-Z0-9]{2,30}", slack):
        raise ValueError(f"slack_id '{slack}' must be a Slack user id (U…/W…)")
    language = (get.get("language") or "").lower() or None
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"language '{language}' is not one of {', '.join(LANGUAGES)}")
    flags = {}
    for column, default in (("vip", False), ("active", True)):
        value = (get.get(column) or "").lower()
        if value in _TRUE:
            flags[column] = True
        elif value in _FALSE:
            flags[column] = default if value == "" else False
        else:
            raise ValueError(f"{column} '{get[column]}' must be yes or no")
    identities = [("email", email)] if email else []
    identities += [("phone", phone)] if phone else []
    identities += [("telegram", telegram)] if telegram else []
    identities += [("slack", slack)] if slack else []
    if not identities:
        raise ValueError("no e-mail, phone, telegram_id or slack_id: nothing would find this person")
    if len(get.get("name", "")) > 200 or len(get.get("department", "")) > 200 or len(get.get("organisation", "")) > 200:
        raise ValueError("name, department and organisation are at most 200 characters")
    return _Row(
        email,
        get.get("name", ""),
        get.get("department", ""),
        get.get("organisation", ""),
        phone,
        language,
        flags["vip"],
        flags["active"],
        identities,
    )


def _owners(session: Session, identities: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    owned: dict[tuple[str, str], int] = {}
    for kind, ref in identities:
        person_id = session.scalar(
            select(PersonIdentity.person_id).where(PersonIdentity.kind == kind, PersonIdentity.ref == ref)
        )
        if person_id is not None:
            owned[(kind, ref)] = person_id
    return owned


def _upsert(session: Session, row: _Row, source: str = "directory") -> str:
    """Apply one parsed row: "added" | "updated" | "unchanged"; ValueError when it conflicts with someone else."""
    owners = _owners(session, row.identities)
    person = session.scalar(select(Person).where(Person.email == row.email)) if row.email else None
    if person is None and owners:
        ids = set(owners.values())
        if len(ids) > 1:
            raise ValueError("its identities belong to different people (merge them first)")
        known = session.get_one(Person, ids.pop())
        # The row completes a person known only by a chat identity; it never takes over someone with an address.
        if row.email is None or known.email is None:
            person = known
    taken = [f"{kind} {ref}" for (kind, ref), pid in owners.items() if person is None or pid != person.id]
    if taken:
        raise ValueError(f"{', '.join(taken)} already belongs to another person")
    org_id = organisation_named(session, row.organisation).id if row.organisation else None
    wanted = {
        "email": row.email,
        "name": row.name,
        "department": row.department,
        "organisation_id": org_id,
        "phone": row.phone,
        "language": row.language,
        "vip": row.vip,
        "active": row.active,
        "provisional": False,
        "source": source,
    }
    outcome = "unchanged"
    if person is None:
        person = Person(**wanted)
        session.add(person)
        session.flush()
        outcome = "added"
    else:
        for attr, value in wanted.items():
            if getattr(person, attr) != value:
                setattr(person, attr, value)
                outcome = "updated"
    for kind, ref in row.identities:
        if (kind, ref) not in owners:
            session.add(PersonIdentity(person_id=person.id, kind=kind, ref=ref, source=source))
            outcome = "updated" if outcome == "unchanged" else outcome
    session.flush()
    return outcome


def read_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) for every data row; DirectoryFileError when the file cannot be used at all."""
    if "\x00" in text:
        raise DirectoryFileError("a binary file, not CSV")
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [(h or "").strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DirectoryFileError(
            f"missing column(s): {', '.join(missing)} (the header needs {','.join(REQUIRED_COLUMNS)})"
        )
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, str]]] = []
    for raw in reader:
        if len(rows) >= MAX_ROWS:
            raise DirectoryFileError(f"more than {MAX_ROWS} rows: split the file")
        if not any((v or "").strip() for k, v in raw.items() if k):
            continue  # a blank line
        rows.append((reader.line_num, {k: v or "" for k, v in raw.items() if k}))
    return rows


def import_csv(session: Session, text: str) -> ImportReport:
    """Upsert every row of a directory CSV; each row in its own savepoint, so one bad row costs only itself."""
    return import_rows(session, read_rows(text))


def import_rows(
    session: Session, rows: Iterable[tuple[int | str, dict[str, str]]], source: str = "directory"
) -> ImportReport:
    """Upsert rows (where each came from — a line number, an LDAP DN — and its columns) one savepoint each."""
    report = ImportReport()
    for where, raw in rows:
        try:
            row = _parse(raw)
            with session.begin_nested():
                outcome = _upsert(session, row, source)
        except ValueError as exc:
            report.failed.append((where, str(exc)))
            continue
        report.people.append(row.email or row.identities[0][1])
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def import_file(session: Session, path: Path) -> ImportReport:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DirectoryFileError(f"{path} is not UTF-8 text") from exc
    return import_csv(session, text)
