"""Rooms of their own: scoring imports nothing from the training loop, and no module that runs a model
calls a private MXNet/Gluon member (save_parameters and load_parameters are the public way)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lenet_batch"
TREES = {path: ast.parse(path.read_text()) for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(tree: ast.Module) -> set[str]:
    """Every module a file imports, at any depth of it ("from a import b" counts a and a.b)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def names_we_define() -> set[str]:
    """Names bound anywhere in lenet_batch: a private name among them is ours to use."""
    names = set()
    for tree in TREES.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.id if isinstance(node, ast.Name) else node.attr)
    return names


@pytest.mark.parametrize("path", [p for p in TREES if p.parent.name == "scoring"], ids=lambda p: p.name)
def test_scoring_imports_nothing_from_the_training_loop(path):
    assert "lenet_batch.training.loop" not in imported_modules(TREES[path])


def test_no_module_that_runs_a_model_calls_a_private_mxnet_member():
    ours = names_we_define()
    private = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} .{node.attr}"
        for path, tree in TREES.items()
        if any(m == "mxnet" or m.startswith("mxnet.") for m in imported_modules(tree))
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
        if node.attr not in ours
    ]
    assert private == []
