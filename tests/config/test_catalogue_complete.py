"""Every text the code marks for translation has its Spanish: the UI speaks Spanish first, so
a new English-only string is a defect. Django's own makemessages reads the sources (in a copy,
so the checkout's catalogue is never rewritten) and each msgid must be in ours."""

import shutil
import subprocess
import sys
from pathlib import Path

import polib

import emisario
from tests.requirements import skip_or_fail

CATALOGUE = Path(emisario.__file__).parent / "locale" / "es" / "LC_MESSAGES" / "django.po"


def test_every_marked_text_has_its_spanish(tmp_path):
    if shutil.which("xgettext") is None:
        skip_or_fail("xgettext is missing (Debian package gettext): makemessages needs it")
    copy = tmp_path / "emisario"
    shutil.copytree(Path(emisario.__file__).parent, copy, ignore=shutil.ignore_patterns("*.pyc"))
    admin = Path(sys.executable).with_name("django-admin")
    subprocess.run(
        [str(admin), "makemessages", "-l", "es", "--no-obsolete", "-e", "py,html,txt"],
        cwd=copy,
        check=True,
        capture_output=True,
    )
    wanted = {e.msgid for e in polib.pofile(str(copy / "locale/es/LC_MESSAGES/django.po"))}
    ours = {e.msgid: e.msgstr for e in polib.pofile(str(CATALOGUE)) if not e.obsolete}
    missing = sorted(msgid for msgid in wanted if msgid and not ours.get(msgid))
    assert missing == []
