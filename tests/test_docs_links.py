"""Every relative link in the README, the changelog and the pages under docs/ points to a file
or folder that exists, and the README still names the test command that CI (.ci/run) runs."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Markdown links and images: [text](target) / ![alt](target); the target ends at a space or ')'.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~)")


def _documents() -> list[Path]:
    docs = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "BENCHMARKS.md"]
    docs += sorted((ROOT / "docs").rglob("*.md"))
    return [d for d in docs if d.is_file()]


def _links(text: str) -> list[str]:
    """Link targets outside fenced code blocks and inline code spans."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if fenced:
            continue
        out += LINK.findall(re.sub(r"`[^`]*`", "", line))
    return out


def _relative(target: str) -> str | None:
    """The path part of a relative link, or None for URLs, mail links and in-page anchors."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith(("#", "/")):
        return None
    return target.split("#", 1)[0].split("?", 1)[0] or None


@pytest.mark.parametrize("doc", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path):
    missing = [t for t in _links(doc.read_text(encoding="utf-8"))
               if (path := _relative(t)) is not None and not (doc.parent / path).exists()]
    assert not missing, f"{doc.relative_to(ROOT)}: links to missing files: {missing}"


def test_link_pattern():
    text = "see [a](docs/a.md), ![b](assets/b.png \"title\") and `[c](not/a/link.md)`\n```\n[d](x.md)\n```\n"
    assert _links(text) == ["docs/a.md", "assets/b.png"]
    assert _relative("https://example.org/x") is None and _relative("#anchor") is None
    assert _relative("docs/x.md#part") == "docs/x.md"


def test_readme_names_the_ci_test_command():
    """.ci/run runs the README's test command; the README must still say that it is `make test`."""
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "`make test`" in (ROOT / "README.md").read_text()
