"""The README's gate section, run as printed: four synthetic nights judged by the real baseline search and
gate (tests/verdict_helpers.py; the fourth at lr 0.05 regresses), the commands of the "gate-accept" block on
them, then the next night at the new level and the "gate-next-night" block. The CLI in-process; printed
output compared as it is (the nights are synthetic: every number is the same on any machine), with who
accepted written as the README writes it."""

import getpass
import socket

from lenet_batch.store.layout import Layout
from tests import readme
from tests.test_accept import STEADY
from tests.test_readme_examples import argv_of, assert_same_shape, run_here
from tests.verdict_helpers import write_night

WHO = "ann@build-01"  # user@host as the README shows it
EXITS = {"summary": 2}  # the others exit 0


def demo(layout: Layout) -> None:
    """Three steady nights, then one at lr 0.05 that regressed."""
    for night in range(3):
        write_night(layout, night, STEADY)
    write_night(layout, 3, [0.800, 0.802, 0.798], lr=0.05)


def test_the_gate_section_runs_as_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    layout = Layout("gate-demo")
    demo(layout)
    scenes = (("gate-accept", None), ("gate-next-night", [0.801, 0.799, 0.800]))
    for block, next_night in scenes:
        if next_night is not None:  # the next nightly, at the accepted night's level
            write_night(layout, 4, next_night, lr=0.05)
        for command, shown in readme.commands_and_output(readme.block(block)):
            argv = argv_of(command)
            code, got = run_here(argv, capsys)
            got = got.replace(f"{getpass.getuser()}@{socket.gethostname()}", WHO)
            print(f"$ {command}\n{got}")
            assert code == EXITS.get(argv[0], 0), got
            assert_same_shape(shown, got, command)
            assert got == shown  # synthetic nights: every number, date and run id as printed
    said = readme.block("gate-next-night").splitlines()[-1]
    assert said.startswith("2026-01-05: gate: passed — baseline 2026-01-04, accepted: lr 0.1 → 0.05")
