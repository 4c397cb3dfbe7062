"""A small reader of gettext .po files: enough to check a catalogue, not to edit one.

updatemessages reports what is left to translate with it, and tests/test_i18n.py compares
catalogues (and their compiled .mo files) entry by entry with it; neither needs GNU gettext.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: list[str] = field(default_factory=list)  # one per plural form (one without plural)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False

    @property
    def key(self) -> tuple[str | None, str, str | None]:
        return (self.msgctxt, self.msgid, self.msgid_plural)

    @property
    def fuzzy(self) -> bool:
        return "fuzzy" in self.flags

    @property
    def translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr) and not self.fuzzy


_KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*\")\s*$")


def read_po(path: Path | str) -> list[Entry]:
    """Every entry of the file, the header (msgid "") first when there is one."""
    entries: list[Entry] = []
    entry: Entry | None = None
    last: tuple[str, int | None] | None = None
    flags: set[str] = set()

    def finish():
        nonlocal entry, last
        if entry is not None:
            entries.append(entry)
        entry, last = None, None

    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
        if not line:
            finish()
            continue
        if line.startswith("#,"):
            finish()
            flags = {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        if line.startswith("#"):
            continue
        match = _KEYWORD.match(line)
        if match:
            keyword, index, literal = match.groups()
            value = ast.literal_eval(literal)
            if (
                keyword in ("msgctxt", "msgid")
                and entry is not None
                and last
                and last[0].startswith("msgstr")
            ):
                finish()
            if entry is None:
                entry = Entry(flags=flags, obsolete=obsolete)
                flags = set()
            if keyword == "msgctxt":
                entry.msgctxt = value
                last = ("msgctxt", None)
            elif keyword == "msgid":
                entry.msgid = value
                last = ("msgid", None)
            elif keyword == "msgid_plural":
                entry.msgid_plural = value
                last = ("msgid_plural", None)
            else:
                position = int(index) if index is not None else 0
                while len(entry.msgstr) <= position:
                    entry.msgstr.append("")
                entry.msgstr[position] = value
                last = ("msgstr", position)
        elif line.startswith('"') and entry is not None and last:
            value = ast.literal_eval(line)
            name, position = last
            if name == "msgstr":
                entry.msgstr[position] += value
            elif name == "msgctxt":
                entry.msgctxt = (entry.msgctxt or "") + value
            else:
                setattr(entry, name, getattr(entry, name) + value)
    finish()
    return entries


def messages(path: Path | str) -> list[Entry]:
    """The live entries: neither the header nor obsolete ones."""
    return [entry for entry in read_po(path) if entry.msgid and not entry.obsolete]


def untranslated(path: Path | str) -> list[Entry]:
    return [entry for entry in messages(path) if not entry.translated]
