"""Load feature definitions from a user's ``features.py``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from streamfeat.definitions import FeatureView
from streamfeat.errors import DefinitionError

__all__ = ["EXAMPLE_FEATURES", "load_views"]

#: The shipped example (README, demo, benchmarks).
EXAMPLE_FEATURES = Path(__file__).parent / "examples" / "transactions.py"


def load_views(path: str | Path) -> list[FeatureView]:
    """Import ``path`` and return every FeatureView defined at its top level, in order.

    The file is the user's own Python code and is executed as such; no other code
    (and no serialised object) is ever loaded.
    """
    path = Path(path)
    if not path.is_file():
        raise DefinitionError(f"feature file {str(path)!r} does not exist")
    module_name = f"streamfeat_user_features_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise DefinitionError(f"cannot import {str(path)!r} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except DefinitionError as exc:
        raise DefinitionError(f"{path}: {exc}") from exc
    finally:
        sys.modules.pop(module_name, None)
    views = list({id(v): v for v in vars(module).values() if isinstance(v, FeatureView)}.values())
    if not views:
        raise DefinitionError(f"{path} defines no FeatureView at top level")
    names = [v.name for v in views]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DefinitionError(f"{path}: several views are named {', '.join(duplicates)}")
    return views
