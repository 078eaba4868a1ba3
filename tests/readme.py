"""The fenced blocks of the README and docs/*.md: each is marked, just above its fence, as run by a test or
as illustrative.

    <!-- readme: NAME -->            a test runs it: readme.block("NAME") gives its text
    <!-- illustrative: WHY -->       shown, not run (WHY says what it stands for)

Tests compare printed output with the README's by its shape: digits, spaces and widths aside.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"


def documents() -> list[Path]:
    """The README and every page under docs/: the files whose blocks are run or marked."""
    return [README, *sorted(DOCS.glob("*.md"))]


FENCE = re.compile(r"^```(\w*)$")
MARK = re.compile(r"^<!-- (readme|illustrative): *(.*?) *-->$")


@dataclass(frozen=True)
class Block:
    """One fenced block: how it is marked, its language and text, and the line its fence opens on."""

    kind: str  # readme, illustrative, or "" when unmarked
    name: str  # the test's name for it, or why it is illustrative
    language: str
    text: str
    line: int
    path: Path = README

    def where(self) -> str:
        """file:line, for messages."""
        return f"{self.path.relative_to(REPO)}:{self.line}"


def blocks(path: Path | None = None) -> list[Block]:
    """Every fenced block of the file (of every document when None), with the mark on the line before its
    fence (if any)."""
    if path is None:
        return [b for doc in documents() for b in blocks(doc)]
    lines, found, i = path.read_text().splitlines(), [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        mark = MARK.match(lines[i - 1]) if i else None
        kind, name = (mark.group(1), mark.group(2)) if mark else ("", "")
        found.append(Block(kind, name, fence.group(1), "\n".join(lines[i + 1 : end]), i + 1, path))
        i = end + 1
    return found


def block(name: str) -> str:
    """The text of the block a test runs, by its name (in the README or any page of docs/)."""
    matches = [b.text for b in blocks() if b.kind == "readme" and b.name == name]
    assert len(matches) == 1, f"{len(matches)} blocks marked <!-- readme: {name} --> in README.md and docs/"
    return matches[0]


def shape(text: str) -> list[str]:
    """Lines as their shape: every number one digit, runs of spaces one space, trailing space gone."""
    out = []
    for line in text.strip("\n").splitlines():
        line = re.sub(r"\d+", "9", line)
        out.append(re.sub(r"[ \t]+", " ", line).rstrip())
    return out


def commands_and_output(text: str) -> list[tuple[str, str]]:
    """A transcript block as (command after `$ `, the lines it printed) pairs."""
    pairs: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], []))
        elif pairs:
            pairs[-1][1].append(line)
    return [(command, "\n".join(printed)) for command, printed in pairs]


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """The heading anchors of a Markdown file, as GitHub makes them: lower case, punctuation gone, spaces to
    hyphens (fenced blocks are not headings)."""
    found, fenced = set(), False
    for line in path.read_text().splitlines():
        fenced = fenced != line.startswith("```")
        if not fenced and (heading := re.match(r"^#+ +(.*)$", line)):
            found.add(re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-"))
    return found


def dead_links(page: Path) -> list[str]:
    """Links of the page (outside fenced blocks) to a file that does not exist or a heading it lacks; web
    addresses are not fetched (no network here), only relative ones are checked."""
    problems, fenced = [], False
    for number, line in enumerate(page.read_text().splitlines(), 1):
        fenced = fenced != line.startswith("```")
        if fenced or line.startswith("```"):
            continue
        for target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                problems.append(f"{page.name}:{number}: {target}: no such file")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                problems.append(f"{page.name}:{number}: {target}: no such heading")
    return problems
