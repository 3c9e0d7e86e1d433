"""`firstline people sync-ldap` against a real OpenLDAP (`slapd` from Debian, started here): the directory's people
become Firstline people with their organisation and channel ids, a second run changes nothing, an edit in the
directory is picked up, a leaver is made inactive (their history stays), a wrong password or base changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from core.db import make_engine, make_session_factory
from people.models import Organisation, Person, PersonIdentity
from tests.support.paths import ROOT
from tests.support.slapd import add_person, running_slapd

# OpenLDAP's inetOrgPerson has no AD "department"/"company": this directory keeps them in departmentNumber and o, and
# the Telegram id in employeeNumber.
ATTRIBUTES = (
    "email=mail,name=cn,department=departmentNumber,organisation=o,phone=telephoneNumber,"
    "telegram_id=employeeNumber,slack_id=,language=preferredLanguage,vip=,active="
)


@pytest.fixture
def directory(tmp_path):
    with running_slapd(tmp_path / "ldap") as ldap:
        add_person(
            ldap.admin,
            "anna",
            cn="Анна Петрова",
            mail="Anna.Petrova@acme.example",
            departmentNumber="Бухгалтерия",
            o="Acme",
            telephoneNumber="+7 912 345-67-89",
            employeeNumber="424242",
            preferredLanguage="ru",
        )
        add_person(ldap.admin, "bob", cn="Bob Stone", mail="bob@acme.example", o="Acme", departmentNumber="Sales")
        add_person(ldap.admin, "nomail", cn="No Mail")  # nothing would find this person: reported, not imported
        yield ldap


def sync(tmp_path, ldap, **overrides) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FIRSTLINE_DATA_DIR": str(tmp_path / "data"),
        "FIRSTLINE_LOAD_SAMPLE_KB": "false",
        "FIRSTLINE_LDAP_URL": ldap.url,
        "FIRSTLINE_LDAP_BIND_DN": ldap.reader,
        "FIRSTLINE_LDAP_BIND_PASSWORD": ldap.reader_password,
        "FIRSTLINE_LDAP_BASE_DN": f"ou=people,{ldap.base}",
        "FIRSTLINE_LDAP_FILTER": "(objectClass=inetOrgPerson)",
        "FIRSTLINE_LDAP_ATTRIBUTES": ATTRIBUTES,
        **overrides,
    }
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "people", "sync-ldap"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The terminal's line wrapping is not part of the message.
    done.stdout, done.stderr = " ".join(done.stdout.split()), " ".join(done.stderr.split())
    return done


def people(tmp_path) -> dict[str, tuple[Person, set[tuple[str, str]], str | None]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'firstline.db'}")
    with make_session_factory(engine)() as s:
        out = {}
        for p in s.scalars(select(Person)):
            ids = {(i.kind, i.ref) for i in s.scalars(select(PersonIdentity).where(PersonIdentity.person_id == p.id))}
            org = s.get(Organisation, p.organisation_id).name if p.organisation_id else None
            out[p.email] = (p, ids, org)
    engine.dispose()
    return out


def test_the_directory_becomes_people_and_follows_its_changes(tmp_path, directory):
    first = sync(tmp_path, directory)
    assert first.returncode == 1, first.stderr  # one entry could not be imported...
    assert "added 2, updated 0, unchanged 0, failed 1, deactivated 0" in first.stdout
    assert "uid=nomail,ou=people,dc=corp,dc=example" in first.stderr  # ...and the report names it
    found = people(tmp_path)
    anna, ids, org = found["anna.petrova@acme.example"]
    assert (anna.name, anna.department, anna.language, org, anna.source) == (
        "Анна Петрова",
        "Бухгалтерия",
        "ru",
        "Acme",
        "ldap",
    )
    assert ids == {("email", "anna.petrova@acme.example"), ("phone", "+79123456789"), ("telegram", "424242")}

    again = sync(tmp_path, directory)
    assert "added 0, updated 0, unchanged 2, failed 1, deactivated 0" in again.stdout

    directory.admin.modify(
        "uid=bob,ou=people,dc=corp,dc=example", {"departmentNumber": [("MODIFY_REPLACE", ["Marketing"])]}
    )
    directory.admin.delete("uid=anna,ou=people,dc=corp,dc=example")  # a leaver
    third = sync(tmp_path, directory)
    assert "added 0, updated 1, unchanged 0, failed 1, deactivated 1" in third.stdout
    found = people(tmp_path)
    assert found["bob@acme.example"][0].department == "Marketing"
    assert found["anna.petrova@acme.example"][0].active is False  # kept (tickets, history), no longer active


def test_a_refused_bind_or_an_empty_search_changes_nothing(tmp_path, directory):
    wrong = sync(tmp_path, directory, FIRSTLINE_LDAP_BIND_PASSWORD="not-it")
    assert wrong.returncode == 2 and "cannot bind" in wrong.stderr
    assert "not-it" not in wrong.stderr + wrong.stdout  # the password is never printed
    assert sync(tmp_path, directory).returncode == 1  # imports the two people
    empty = sync(tmp_path, directory, FIRSTLINE_LDAP_FILTER="(uid=nobody-at-all)")
    assert empty.returncode == 2 and "nothing was changed" in empty.stderr
    assert all(p.active for p, _, _ in people(tmp_path).values())  # not a company-wide deactivation
