"""The studio speaks English and Simplified Chinese: the catalogues are complete and current.

`python manage.py updatemessages` is the one command that updates them (makemessages for
django.po and djangojs.po with fixed flags, then compilemessages). These tests fail when a
marked string is missing from a catalogue, left untranslated or fuzzy, or when a committed
.mo file does not say what its .po says.
"""

from __future__ import annotations

import gettext
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from studio.ops.pofile import messages, untranslated

ROOT = Path(settings.BASE_DIR)
LC_MESSAGES = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES"
DOMAINS = ["django", "djangojs"]


def catalogues() -> list[Path]:
    """django.po always; djangojs.po once the browser scripts have strings."""
    found = [LC_MESSAGES / f"{domain}.po" for domain in DOMAINS if (LC_MESSAGES / f"{domain}.po").exists()]
    assert LC_MESSAGES / "django.po" in found
    return found


def compiled(mo: Path) -> dict:
    with mo.open("rb") as handle:
        catalog = dict(gettext.GNUTranslations(handle)._catalog)
    catalog.pop("", None)  # the header
    return catalog


def expected(po: Path) -> dict:
    """What msgfmt makes of a .po: every translated entry, keyed as gettext looks it up."""
    catalog = {}
    for entry in messages(po):
        if not entry.translated:
            continue
        msgid = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt is not None else entry.msgid
        if entry.msgid_plural is None:
            catalog[msgid] = entry.msgstr[0]
        else:
            for index, text in enumerate(entry.msgstr):
                catalog[(msgid, index)] = text
    return catalog


@pytest.mark.parametrize("domain", DOMAINS)
def test_catalogue_is_fully_translated_and_compiled(domain):
    po = LC_MESSAGES / f"{domain}.po"
    if not po.exists():
        assert domain != "django"
        pytest.skip(f"no {po.name} yet: no browser script has a translated string")
    todo = [entry.msgid for entry in untranslated(po)]
    assert not todo, f"{po.name} has untranslated or fuzzy entries: {todo}"
    mo = po.with_suffix(".mo")
    assert mo.exists(), f"{mo.name} is missing: run python manage.py updatemessages"
    assert compiled(mo) == expected(po), f"{mo.name} is not current: run python manage.py updatemessages"


def test_makemessages_leaves_the_catalogues_unchanged(tmp_path):
    """makemessages over a copy of the source finds exactly the strings the catalogues have."""
    if not shutil.which("xgettext"):
        pytest.skip(
            "GNU gettext (xgettext) is not installed; tests/run.sh installs it (apt-get install gettext)"
        )
    copy = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ["studio", "templates", "locale"]:
        shutil.copytree(ROOT / name, copy / name, ignore=ignore)
    shutil.copytree(ROOT / "static" / "js", copy / "static" / "js")
    shutil.copy(ROOT / "manage.py", copy / "manage.py")
    result = subprocess.run(
        [sys.executable, "manage.py", "updatemessages", "--no-compile"],
        cwd=copy,
        env={"PATH": "/usr/bin:/bin", "STUDIO_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for po in catalogues():
        fresh = copy / po.relative_to(ROOT)
        have = {entry.key: entry for entry in messages(po)}
        found = {entry.key: entry for entry in messages(fresh)}
        missing = sorted(set(found) - set(have), key=str)
        stale = sorted(set(have) - set(found), key=str)
        assert not missing, f"{po.name} lacks strings the source marks (run updatemessages): {missing}"
        assert not stale, f"{po.name} has strings the source no longer marks (run updatemessages): {stale}"
        todo = [entry.msgid for entry in found.values() if not entry.translated]
        assert not todo, f"after makemessages, {po.name} has untranslated or fuzzy entries: {todo}"
    for domain in DOMAINS:
        fresh = copy / "locale" / "zh_Hans" / "LC_MESSAGES" / f"{domain}.po"
        assert fresh.exists() == (LC_MESSAGES / f"{domain}.po").exists(), f"{domain}.po should be committed"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("accept", "lang", "skip_link"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.5", "zh-hans", "跳到正文"),
        ("en-GB,en;q=0.8", "en", "Skip to content"),
        ("", "en", "Skip to content"),
    ],
)
def test_first_visit_follows_accept_language(client, accept, lang, skip_link):
    page = client.get("/login/", headers={"accept-language": accept} if accept else {})
    html = page.content.decode()
    assert f'<html lang="{lang}">' in html
    assert skip_link in html
    assert page["Content-Language"] == lang
