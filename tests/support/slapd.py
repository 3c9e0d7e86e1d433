"""A real OpenLDAP server for directory-sync tests: Debian's `slapd`, started on a free port with a throwaway
config and database, filled over LDAP by the test itself (ldap3 as the directory's administrator)."""

from __future__ import annotations

import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import ldap3
import pytest

from tests.support.live import free_port

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
BASE = "dc=corp,dc=example"
ADMIN, PASSWORD = f"cn=admin,{BASE}", "admin-secret"
READER, READER_PASSWORD = f"cn=firstline,{BASE}", "reader-secret"


@contextmanager
def running_slapd(folder: Path):
    if not Path(SLAPD).exists():
        pytest.skip("Debian slapd is not installed (apt-get install slapd)")
    db = folder / "db"
    db.mkdir(parents=True)
    conf = folder / "slapd.conf"
    conf.write_text(
        "\n".join(
            [
                "include /etc/ldap/schema/core.schema",
                "include /etc/ldap/schema/cosine.schema",
                "include /etc/ldap/schema/inetorgperson.schema",
                f"pidfile {folder / 'slapd.pid'}",
                "modulepath /usr/lib/ldap",
                "moduleload back_mdb",
                "database mdb",
                f"suffix {BASE}",
                f"rootdn {ADMIN}",
                f"rootpw {PASSWORD}",
                f"directory {db}",
                "maxsize 10485760",
                # The sync's own account reads; nobody else sees anything.
                f'access to * by dn.exact="{READER}" read by * auth',
                "",
            ]
        )
    )
    url = f"ldap://127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [SLAPD, "-f", str(conf), "-h", f"{url}/", "-d", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        admin = None
        deadline = time.time() + 20
        while admin is None:
            try:
                admin = ldap3.Connection(ldap3.Server(url), ADMIN, PASSWORD, auto_bind=True)
            except ldap3.core.exceptions.LDAPException:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"slapd did not start: {proc.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.1)
        admin.add(BASE, ["dcObject", "organization"], {"o": "Corp", "dc": "corp"})
        admin.add(f"ou=people,{BASE}", ["organizationalUnit"], {"ou": "people"})
        admin.add(
            READER, ["simpleSecurityObject", "organizationalRole"], {"cn": "firstline", "userPassword": READER_PASSWORD}
        )
        yield SimpleNamespace(url=url, base=BASE, admin=admin, reader=READER, reader_password=READER_PASSWORD)
        admin.unbind()
    finally:
        proc.terminate()
        proc.wait(10)


def add_person(admin, uid: str, **attributes) -> str:
    dn = f"uid={uid},ou=people,{BASE}"
    admin.add(dn, ["inetOrgPerson"], {"uid": uid, "sn": attributes.pop("sn", uid), **attributes})
    assert admin.result["result"] == 0, admin.result
    return dn
