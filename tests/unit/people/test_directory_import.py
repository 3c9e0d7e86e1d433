"""`firstline people import FILE.csv`: the company directory becomes people with their channel identities and
organisations; importing twice changes nothing; an edit updates only that person; a bad row is reported with its
line and does not stop the others. On SQLite and PostgreSQL, and once through the real command line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from people.directory import DirectoryFileError, import_csv
from people.models import Organisation, Person, PersonIdentity
from tests.support.paths import ROOT

HEADER = "email,name,department,organisation,phone,telegram_id,slack_id,language,vip\n"
DIRECTORY = HEADER + (
    "Anna.Petrova@Acme.example,Анна Петрова,Бухгалтерия,ACME,+7 (912) 345-67-89,424242,,ru,yes\n"
    "bob@acme.example,Bob Stone,Sales,Acme,,,U0BOBSTONE,en,no\n"
    "carol@globex.example,Carol Diaz,IT,Globex,+1 555 010 0199,,,en,\n"
)


def identities(s, person: Person) -> set[tuple[str, str]]:
    return {(i.kind, i.ref) for i in s.scalars(select(PersonIdentity).where(PersonIdentity.person_id == person.id))}


def test_the_directory_becomes_people_with_identities_and_organisations(sessions):
    with sessions.begin() as s:
        report = import_csv(s, DIRECTORY)
    assert (report.added, report.updated, report.unchanged, report.failed) == (3, 0, 0, [])
    with sessions() as s:
        anna = s.scalar(select(Person).where(Person.email == "anna.petrova@acme.example"))
        assert anna.name == "Анна Петрова" and anna.department == "Бухгалтерия" and anna.vip and anna.language == "ru"
        assert identities(s, anna) == {
            ("email", "anna.petrova@acme.example"),
            ("phone", "+79123456789"),  # as the SMS channel stores a sender
            ("telegram", "424242"),
        }
        bob = s.scalar(select(Person).where(Person.email == "bob@acme.example"))
        assert identities(s, bob) == {("email", "bob@acme.example"), ("slack", "U0BOBSTONE")} and not bob.vip
        assert anna.organisation_id == bob.organisation_id  # "ACME" and "Acme" are one organisation
        assert sorted(s.scalars(select(Organisation.name))) == ["ACME", "Globex"]


def test_importing_twice_changes_nothing_and_an_edit_updates_only_that_person(sessions):
    with sessions.begin() as s:
        import_csv(s, DIRECTORY)
    with sessions.begin() as s:
        again = import_csv(s, DIRECTORY)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    edited = DIRECTORY.replace("Bob Stone,Sales", "Bob Stone,Marketing").replace(
        ",U0BOBSTONE,en,no", ",U0BOBSTONE,en,yes"
    )
    with sessions.begin() as s:
        report = import_csv(s, edited)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 2)
    with sessions() as s:
        bob = s.scalar(select(Person).where(Person.email == "bob@acme.example"))
        assert bob.department == "Marketing" and bob.vip
        assert s.scalar(select(func.count()).select_from(Person)) == 3
        assert s.scalar(select(func.count()).select_from(PersonIdentity)) == 7


def test_bad_rows_are_reported_by_line_and_the_rest_go_in(sessions):
    text = HEADER + (
        "dave@acme.example,Dave,IT,Acme,,777,,en,no\n"  # line 2: fine
        "not-an-address,Eve,IT,Acme,,,,en,no\n"  # line 3
        "frank@acme.example,Frank,IT,Acme,,777,,en,no\n"  # line 4: Dave's Telegram id
        "gina@acme.example,Gina,IT,Acme,,,,de,no\n"  # line 5: a language the product does not speak
        ",Nobody,IT,Acme,,,,en,no\n"  # line 6: nothing identifies them
        "hank@acme.example,Hank,IT,Acme,,,,en,maybe\n"  # line 7
        "ivan@acme.example,Ivan,IT,Acme,,,,ru,no\n"  # line 8: fine
    )
    with sessions.begin() as s:
        report = import_csv(s, text)
    assert report.added == 2
    reasons = dict(report.failed)
    assert sorted(reasons) == [3, 4, 5, 6, 7]
    assert "e-mail" in reasons[3] and "telegram 777 already belongs to another person" in reasons[4]
    assert "language 'de'" in reasons[5] and "nothing would find" in reasons[6] and "vip" in reasons[7]
    with sessions() as s:
        assert sorted(s.scalars(select(Person.email))) == ["dave@acme.example", "ivan@acme.example"]


def test_a_file_without_the_columns_is_refused_whole(sessions):
    with sessions.begin() as s:
        with pytest.raises(DirectoryFileError, match="missing column"):
            import_csv(s, "email,name\nann@acme.example,Ann\n")
        assert s.scalar(select(func.count()).select_from(Person)) == 0


def test_the_command_line_imports_reports_and_fails_on_bad_rows(tmp_path):
    csv_file = tmp_path / "directory.csv"
    csv_file.write_text(DIRECTORY + "oops,Bad Row,,,,,,en,no\n", encoding="utf-8")
    env = {**os.environ, "FIRSTLINE_DATA_DIR": str(tmp_path / "data"), "FIRSTLINE_LOAD_SAMPLE_KB": "false"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "people", "import", *args, str(csv_file)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    dry = run("--dry-run")
    assert dry.returncode == 1 and "dry run: added 3, updated 0, unchanged 0, failed 1" in dry.stdout
    assert "line 5:" in dry.stderr
    first = run()
    assert first.returncode == 1 and "added 3, updated 0, unchanged 0, failed 1" in first.stdout
    second = run()
    assert "added 0, updated 0, unchanged 3, failed 1" in second.stdout  # nothing was added by the dry run twice


def test_a_person_known_only_from_a_chat_is_completed_not_duplicated(sessions):
    with sessions.begin() as s:
        stranger = Person(provisional=True)
        s.add(stranger)
        s.flush()
        s.add(PersonIdentity(person_id=stranger.id, kind="telegram", ref="999", source="message"))
        known_id = stranger.id
    with sessions.begin() as s:
        report = import_csv(s, HEADER + "lena@acme.example,Lena Orlova,HR,Acme,,999,,ru,no\n")
    assert (report.added, report.updated) == (0, 1)
    with sessions() as s:
        lena = s.get_one(Person, known_id)
        assert lena.email == "lena@acme.example" and lena.name == "Lena Orlova" and not lena.provisional
        assert identities(s, lena) == {("telegram", "999"), ("email", "lena@acme.example")}
