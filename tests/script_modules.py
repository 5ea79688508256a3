"""Load a script of the repository (a benchmark, scripts/*.py) as a module, for tests that call its
functions: they are files, not packages."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load(relative_path):
    path = REPO / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
