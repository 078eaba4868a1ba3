"""The README's fenced blocks: each is marked, just above its fence, as run by a test or as illustrative.

    <!-- readme: NAME -->            a test runs it: readme.block("NAME") gives its text
    <!-- illustrative: WHY -->       shown, not run (WHY says what it stands for)

Tests compare printed output with the README's by its shape: digits, spaces and widths aside.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import REPO

README = REPO / "README.md"
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


def blocks(path: Path = README) -> list[Block]:
    """Every fenced block of the file, with the mark on the line before its fence (if any)."""
    lines, found, i = path.read_text().splitlines(), [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        mark = MARK.match(lines[i - 1]) if i else None
        kind, name = (mark.group(1), mark.group(2)) if mark else ("", "")
        found.append(Block(kind, name, fence.group(1), "\n".join(lines[i + 1 : end]), i + 1))
        i = end + 1
    return found


def block(name: str, path: Path = README) -> str:
    """The text of the block a test runs, by its name."""
    matches = [b.text for b in blocks(path) if b.kind == "readme" and b.name == name]
    assert len(matches) == 1, f"{path.name}: {len(matches)} blocks marked <!-- readme: {name} -->"
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
