"""People search and merging (SQLite and PostgreSQL): names in any script and case, numbers typed any way, and a
client manager's scope that no search escapes; a merge moves identities and tickets and leaves nobody behind."""

from __future__ import annotations

from sqlalchemy import select

from people.directory import import_csv
from people.identify import person_of
from people.models import Organisation, Person
from tickets import conversations, requesters, service

DIRECTORY = """email,name,department,organisation,phone,telegram_id,slack_id,language,vip
anna@acme.example,Анна Петрова,Бухгалтерия,Acme,+7 (912) 345-67-89,,,ru,no
anya@globex.example,АННА Смирнова,Sales,Globex,,,,ru,no
bob@acme.example,Bob Stone,Sales,Acme,,,,en,no
"""


def names(found: list[Person]) -> set[str]:
    return {p.name for p in found}


def test_search_reads_names_in_any_case_and_numbers_as_typed(sessions):
    with sessions.begin() as s:
        assert not import_csv(s, DIRECTORY).failed
    with sessions() as s:
        assert names(requesters.search(s, "анна")) == {"Анна Петрова", "АННА Смирнова"}
        assert names(requesters.search(s, "ПЕТРОВА")) == {"Анна Петрова"}
        assert names(requesters.search(s, "912 345")) == {"Анна Петрова"}
        assert names(requesters.search(s, "(912) 345-67")) == {"Анна Петрова"}
        assert names(requesters.search(s, "BOB@acme")) == {"Bob Stone"}
        assert names(requesters.search(s, "nobody")) == set()
        acme = s.scalar(select(Organisation).where(Organisation.name == "Acme")).id
        # A client manager of Acme never finds Globex's Anna, by name or otherwise.
        assert names(requesters.search(s, "анна", organisation_id=acme)) == {"Анна Петрова"}
        assert names(requesters.search(s, "", organisation_id=acme)) == {"Анна Петрова", "Bob Stone"}


def test_merging_moves_identities_and_tickets_and_deletes_the_duplicate(sessions):
    with sessions.begin() as s:
        assert not import_csv(s, DIRECTORY).failed
        conv = conversations.get_or_start_conversation(s, "telegram", "555", user_name="Bobby")
        ticket = service.open_ticket(s, conv, reason="user_request", question="help", bot_tried=[])
        bobby = person_of(s, "telegram", "555")
        assert bobby.provisional and ticket.person_id == bobby.id
        bob = person_of(s, "email", "bob@acme.example")
        requesters.merge(s, keep=bob, drop=bobby)
        number, bob_id, bobby_id = ticket.id, bob.id, bobby.id
    with sessions() as s:
        assert s.get(Person, bobby_id) is None
        assert person_of(s, "telegram", "555").id == bob_id
        assert [t.id for t in requesters.tickets_of(s, bob_id)] == [number]
        assert s.get(Person, bob_id).name == "Bob Stone"  # the directory's name wins over the chat's
