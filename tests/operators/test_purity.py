"""operators/ is pure: no Kafka, bytewax, storage, serialisation-by-pickle or I/O imports."""

from __future__ import annotations

import ast
from pathlib import Path

import operators

FORBIDDEN = {
    "bytewax",
    "confluent_kafka",
    "rocksdict",
    "redis",
    "orjson",
    "json",
    "pickle",
    "dill",
    "marshal",
    "shelve",
    "socket",
    "os",
    "io",
    "pathlib",
    "subprocess",
    "streamfeat",
    "time",
    "random",
    "numpy",
}


def test_operators_import_nothing_impure():
    root = Path(operators.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.relative_to(root)}: {name}" for name in names if name.split(".")[0] in FORBIDDEN]
        offenders += [f"{path.relative_to(root)}: open()" for node in ast.walk(tree)
                      if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "open"]
    assert offenders == []
