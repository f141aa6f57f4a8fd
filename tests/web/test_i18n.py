"""Languages: every text of the interface has its Chinese translation, placeholders intact."""

from __future__ import annotations

import re
import subprocess
import sys

from babel.messages.pofile import read_po

from web.config import REPO_ROOT
from web.i18n import TRANSLATIONS_DIR

PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%%")


def _catalogue():
    with (TRANSLATIONS_DIR / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source)


def test_every_text_in_the_code_is_translated(tmp_path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
         str(REPO_ROOT / "babel.cfg"), "-k", "_l", "-o", str(pot), str(REPO_ROOT / "web")],
        check=True, cwd=REPO_ROOT, capture_output=True,
    )  # fmt: skip
    with pot.open("rb") as source:
        wanted = {m.id for m in read_po(source) if m.id}
    catalogue = _catalogue()
    translated = {m.id for m in catalogue if m.id and m.string and not m.fuzzy}
    missing = sorted(str(m) for m in wanted - translated)
    assert not missing, f"untranslated (run `make messages`, then translate): {missing[:20]}"


def test_translations_keep_their_placeholders() -> None:
    for message in _catalogue():
        if not message.id or not isinstance(message.id, str):
            continue
        assert sorted(PLACEHOLDER.findall(message.id)) == sorted(
            PLACEHOLDER.findall(message.string)
        ), message.id
