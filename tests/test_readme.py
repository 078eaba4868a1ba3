"""Every fenced block of the README and docs/ is run by a test (which names it) or marked illustrative,
saying why; every link between them, and to the repository's files, resolves."""

import re

from tests import readme
from tests.helpers import REPO


def names_tests_run() -> set[str]:
    """The block names some test asks for: readme.block with the name, or the name as a string in a test
    file that calls readme.block with a variable (a parametrized test)."""
    names, known = set(), {b.name for b in readme.blocks() if b.kind == "readme"}
    for path in (REPO / "tests").glob("test_*.py"):
        text = path.read_text()
        names.update(re.findall(r"readme\.block\(\s*[\"']([^\"']+)[\"']", text))
        if re.search(r"readme\.block\(\s*[a-z_]", text):
            names.update(known & set(re.findall(r"[\"']([a-z0-9-]+)[\"']", text)))
    return names


def test_every_block_is_run_by_a_test_or_marked_illustrative():
    run = names_tests_run()
    problems = []
    for b in readme.blocks():
        if not b.kind:
            problems.append(f"{b.where()}: no <!-- readme: NAME --> or <!-- illustrative: WHY --> above it")
        elif b.kind == "readme" and b.name not in run:
            problems.append(f"{b.where()}: no test runs readme.block({b.name!r})")
        elif b.kind == "illustrative" and len(b.name) < 10:
            problems.append(f"{b.where()}: say why it is illustrative")
    assert not problems, "\n".join(problems)


def test_block_names_are_unique_and_every_name_a_test_asks_for_exists():
    named = [b.name for b in readme.blocks() if b.kind == "readme"]
    assert len(named) == len(set(named)), named
    assert names_tests_run() <= set(named), sorted(names_tests_run() - set(named))


def test_the_readme_is_a_five_minute_read_and_every_page_of_docs_is_linked_from_it():
    text = readme.README.read_text()
    assert len(text.splitlines()) < 250
    unlinked = [p.name for p in readme.documents()[1:] if f"](docs/{p.name})" not in text]
    assert not unlinked, f"pages of docs/ the README does not link: {unlinked}"


def test_every_link_resolves():
    pages = [*readme.documents(), REPO / "deploy" / "README.md"]
    problems = [problem for page in pages for problem in readme.dead_links(page)]
    assert not problems, "\n".join(problems)


def test_a_dead_link_is_found(tmp_path):
    # The checker itself: a missing file, a missing heading and a good pair, in a page of its own.
    (tmp_path / "other.md").write_text("# Other\n\n## A `quoted` heading, with punctuation!\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md) [ok](other.md#a-quoted-heading-with-punctuation) [ok](#the-page)\n"
        "[gone](missing.md) [no heading](other.md#nowhere) ![no image](gone.png) [web](https://example.org/x)\n"
        "```text\n[inside a block](not-a-link.md)\n```\n# The page\n"
    )
    problems = readme.dead_links(page)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "missing.md: no such file",
        "other.md#nowhere: no such heading",
        "gone.png: no such file",
    ]


def test_shapes_ignore_numbers_and_spacing_but_not_words():
    assert readme.shape("seed  0.8164 x\n") == readme.shape("seed 0.81 x")
    assert readme.shape("seed 0.8164 skip") != readme.shape("seed 0.8164 train")


# --- the blocks that need no run ----------------------------------------------------------------------------

GLOBAL = {"--config", "--storage-option", "--storage-timeout", "--storage-retries", "-v", "-q", "--version"}


def parser_flags() -> dict[str, set[str]]:
    """Every command's own flags (all spellings), global flags and -h aside."""
    import argparse

    from lenet_batch.cli.parser import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    ignore = GLOBAL | {"-h", "--help", "--verbose", "--quiet"}
    return {
        name: {o for a in p._actions for o in a.option_strings} - ignore for name, p in sub.choices.items()
    }


def synopsis() -> tuple[dict[str, set[str]], set[str]]:
    """The README's synopsis: each command's flags (with `every X flag but --Y` expanded), the global ones."""
    entries: dict[str, str] = {}
    current = ""
    for line in readme.block("cli-synopsis").splitlines():
        if line.startswith("lenet-batch "):
            current = line.split()[1]
            entries[current] = line
        elif line.startswith("global"):
            current = "global"
            entries[current] = line
        else:
            entries[current] += " " + line
    flag = r"(?<![\w-])(--[a-z][a-z-]*|-[vq])\b"
    flags = {n: set(re.findall(flag, t)) - set(re.findall(r"but (--[a-z-]+)", t)) for n, t in entries.items()}
    for name, text in entries.items():
        for other, but in re.findall(r"every (\w+) flag(?: but (--[a-z-]+))?", text):
            flags[name] |= flags[other] - {but}
    return {k: v for k, v in flags.items() if k != "global"}, flags["global"]


def test_the_synopsis_lists_every_command_and_exactly_its_flags():
    shown, global_flags = synopsis()
    real = parser_flags()
    assert list(shown) == list(real), "the synopsis lists the commands in the parser's order"
    assert global_flags == GLOBAL
    for name, flags in shown.items():
        assert flags <= real[name], f"{name}: the README shows flags it does not take: {flags - real[name]}"
        aliases = {"--run": "--run-id", "--query-timeout": "--timeout", "-o": "--output"}
        missing = {aliases.get(f, f) for f in real[name]} - {aliases.get(f, f) for f in flags}
        assert not missing, f"{name}: the README's synopsis leaves out {sorted(missing)}"


def test_the_toml_example_is_read_as_the_readme_says(tmp_path):
    from lenet_batch import cli
    from lenet_batch.cli.parser import build_parser

    path = tmp_path / "nightly.toml"
    path.write_text(readme.block("config-toml"))
    args = build_parser().parse_args(["--config", str(path), "nightly"])
    s = cli.settings_from_args(args)
    assert (s.output, s.seeds, s.epochs, s.lr, s.verify_data) == (
        "s3://example-bucket/lenet-batch",
        "0-7",
        10,
        0.1,
        True,
    )
    assert (s.max_drop, s.notify_on) == (0.01, "problems")
    assert (
        s.storage_options["client_kwargs"] == {"region_name": "eu-west-1"} and not s.storage_options["anon"]
    )


def codes_of(block: str) -> dict[str, int]:
    return {
        line.split()[0]: int(line.split()[1]) for line in readme.block(block).splitlines() if line.strip()
    }


def test_the_exit_codes_are_the_programs():
    from lenet_batch import errors

    shown = {int(line.split()[0]) for line in readme.block("exit-codes").splitlines()}
    constants = {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    assert shown == constants | {130}  # 130: Ctrl-C, as Python's KeyboardInterrupt reaches cli.main


def test_the_check_states_and_their_codes_are_the_programs():
    from lenet_batch.monitor import health

    shown = {line.split()[0]: int(line.split()[1]) for line in readme.block("check-states").splitlines()}
    assert shown == health.EXIT_CODES
    assert list(shown) == [
        "running",
        "failed",
        "seeds_failed",
        "regressed",
        "inconclusive",
        "stale",
        "healthy",
    ]


def test_checks_help_names_every_state_and_its_code():
    import argparse

    from lenet_batch.cli.parser import build_parser
    from lenet_batch.monitor import health

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    said = next(c.help for c in sub._choices_actions if c.dest == "check")
    named = dict(re.findall(r"(\w+) (\d+)", said.split(": ", 1)[1]))
    assert {state: int(code) for state, code in named.items()} == health.EXIT_CODES


def test_the_two_commands_are_what_ci_runs_in_that_order():
    shown = [line.split("#")[0].strip() for line in readme.block("two-commands").splitlines()]
    ci = [
        ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines() if ln.strip().startswith("make ")
    ]
    assert [s.split()[:2] for s in shown] == [["make", "run"], ["make", "test"]]
    # CI's `make run` is the README's first night, `make smoke` (into ./smoke, through `make run`: see
    # test_make_and_ci), so that ./runs stays the user's.
    assert ci == ["make smoke", "make test"]


def test_the_kubernetes_probe_runs_a_valid_check():
    import yaml

    from lenet_batch.cli.parser import build_parser

    job = yaml.safe_load(readme.block("cronjob-probe"))
    (container,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:2] == ["lenet-batch", "check"]
    args = build_parser().parse_args(command[1:])
    assert args.output.startswith("s3://") and args.max_age == "26h"
