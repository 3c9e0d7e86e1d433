"""What files users may send the service desk, and where they are kept. Shared by every channel that takes files.

A file is accepted when it is no larger than the limit (FIRSTLINE_MAX_ATTACHMENT_BYTES, 20 MB by default), its
extension is on the allow-list (images, PDF, office documents, text/log/csv, zip) and its first bytes agree with
that extension (a "report.pdf" that is really a Windows program is refused). Executables and scripts are refused
whatever they are called, and so is a zip that carries one. A refusal says which file and why: channels tell the
user (and the agent) instead of dropping the file silently.

Accepted files are stored under <data_dir>/attachments/ only (never a served path such as api/static), by their
content: the path is the SHA-256 of the bytes, so one path always holds one content and two people's files can never
end up in one file, whatever they were called. The name a user gave is kept only as metadata (in the message payload).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
ROOT = "attachments"

IMAGES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic"}
OLE_OFFICE = {".doc", ".xls", ".ppt", ".msg"}  # the old binary formats (OLE compound files)
ZIP_OFFICE = {".docx", ".xlsx", ".pptx", ".odt", ".ods", ".odp"}  # OOXML / OpenDocument are zip packages
TEXT = {".txt", ".log", ".csv", ".json", ".xml", ".md", ".eml"}
ALLOWED = IMAGES | OLE_OFFICE | ZIP_OFFICE | TEXT | {".pdf", ".rtf", ".zip"}
# Named so the refusal can say "program or script" rather than just "not allowed".
EXECUTABLE = {
    ".exe",
    ".bat",
    ".cmd",
    ".com",
    ".scr",
    ".pif",
    ".cpl",
    ".msi",
    ".msp",
    ".dll",
    ".sys",
    ".js",
    ".jse",
    ".vbs",
    ".vbe",
    ".wsf",
    ".wsh",
    ".hta",
    ".ps1",
    ".psm1",
    ".psd1",
    ".sh",
    ".bash",
    ".zsh",
    ".csh",
    ".ksh",
    ".py",
    ".pl",
    ".rb",
    ".php",
    ".jar",
    ".app",
    ".apk",
    ".deb",
    ".rpm",
    ".lnk",
    ".reg",
    ".inf",
    ".iso",
    ".img",
    ".vhd",
    ".dmg",
    ".elf",
    ".bin",
    ".run",
    ".docm",
    ".xlsm",
    ".pptm",
}

# Leading bytes of programs, whatever their name says.
_PROGRAM_MAGIC = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"#!",
)
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")


@dataclass(frozen=True)
class Refusal:
    name: str
    reason: str  # too_large | executable | not_allowed | mismatch | empty
    detail: str  # one sentence for the user and the agent, English

    def as_dict(self) -> dict:
        return {"name": self.name, "reason": self.reason, "detail": self.detail}


def extension(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


def safe_name(name: str, fallback: str = "attachment") -> str:
    """A file name safe on any file system: no directories, no dot in front or at the end, [A-Za-z0-9._-] only."""
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".").rstrip(".")
    return cleaned[-100:] if cleaned.strip("_") else fallback


def _image_ok(ext: str, head: bytes) -> bool:
    if ext == ".png":
        return head.startswith(b"\x89PNG")
    if ext in (".jpg", ".jpeg"):
        return head.startswith(b"\xff\xd8\xff")
    if ext == ".gif":
        return head[:6] in (b"GIF87a", b"GIF89a")
    if ext == ".webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if ext == ".bmp":
        return head.startswith(b"BM")
    if ext in (".tif", ".tiff"):
        return head[:4] in (b"II*\x00", b"MM\x00*")
    return head[4:8] == b"ftyp"  # .heic (ISO media)


def _zip_names(data: bytes) -> list[str] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return z.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return None


def _looks_like_text(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte-order mark (Windows logs)
        return True
    return b"\x00" not in head


@dataclass(frozen=True)
class AttachmentPolicy:
    max_bytes: int = DEFAULT_MAX_BYTES

    def check_size(self, name: str, size: int | None) -> Refusal | None:
        """Before downloading: a size the platform announced."""
        if size is not None and size > self.max_bytes:
            return Refusal(
                name, "too_large", f"{name} is {size / 1048576:.1f} MB; the limit is {self.max_bytes / 1048576:.0f} MB"
            )
        return None

    def check_name(self, name: str) -> Refusal | None:
        """By the name alone (before downloading): programs, scripts and types not on the allow-list."""
        ext = extension(name)
        if ext in EXECUTABLE:
            return Refusal(name, "executable", f"{name} is a program or script ({ext}); those are not accepted")
        if ext not in ALLOWED:
            kind = ext or "a file without an extension"
            return Refusal(
                name,
                "not_allowed",
                f"{name}: {kind} is not an accepted file type (images, PDF, office "
                "documents, text/log/csv files and zip archives are)",
            )
        return None

    def check(self, name: str, data: bytes) -> Refusal | None:
        """None when the file may be kept; otherwise why not."""
        by_name = self.check_size(name, len(data)) or self.check_name(name)
        if by_name is not None:
            return by_name
        if not data:
            return Refusal(name, "empty", f"{name} is empty")
        ext = extension(name)
        head = data[:4096]
        if head.startswith(_PROGRAM_MAGIC):
            return Refusal(name, "mismatch", f"{name} is named {ext} but is really a program or script")
        if ext in IMAGES:
            ok = _image_ok(ext, head)
        elif ext == ".pdf":
            ok = b"%PDF-" in head[:1024]
        elif ext == ".rtf":
            ok = head.startswith(b"{\\rtf")
        elif ext in OLE_OFFICE:
            ok = head.startswith(_OLE)
        elif ext in ZIP_OFFICE or ext == ".zip":
            names = _zip_names(data) if head.startswith(_ZIP) else None
            ok = names is not None
            bad = [n for n in names or [] if extension(n) in EXECUTABLE]
            if bad:
                return Refusal(name, "executable", f"{name} contains a program or script ({safe_name(bad[0])})")
        else:  # text
            ok = _looks_like_text(head)
        if not ok:
            return Refusal(name, "mismatch", f"{name} is not really a {ext} file (its content does not match)")
        return None


def attachments_root(data_dir: Path) -> Path:
    return (Path(data_dir) / ROOT).resolve()


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative to data_dir: what message payloads keep
    sha256: str
    size: int


def store(data_dir: Path, channel: str, data: bytes) -> StoredFile:
    """Write an accepted file to <data_dir>/attachments/<channel>/<sha256[:2]>/<sha256>. Content-addressed: the same
    bytes land on the same path (written once), different bytes never share one. Written to a temporary file first
    and renamed: a crash never leaves half a file under the final name."""
    digest = hashlib.sha256(data).hexdigest()
    root = attachments_root(data_dir)
    dest = root.joinpath(safe_name(channel, "_"), digest[:2], digest).resolve()
    if not dest.is_relative_to(root):  # belt and braces: safe_name already strips separators
        raise ValueError(f"attachment path escapes {root}")
    if not (dest.is_file() and dest.stat().st_size == len(data)):
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=dest.parent, prefix=f".{digest[:16]}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(part, dest)
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
    return StoredFile(dest.relative_to(Path(data_dir).resolve()).as_posix(), digest, len(data))


def inside_attachments(data_dir: Path, path: Path) -> Path:
    """`path` resolved, after checking it lies under <data_dir>/attachments (for downloads written elsewhere)."""
    root = attachments_root(data_dir)
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(root):
        raise ValueError(f"attachment path escapes {root}")
    return resolved
