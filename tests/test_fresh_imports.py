"""Every module of edge_swin, pipelines and calib imports when it is the first of ours a process imports."""
from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from tests.source_tree import OLD_LOOP, ROOT, write_tree

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (one cheap child per module)")


def _python(code_or_module: list[str], pythonpath: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *code_or_module], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": pythonpath})


@pytest.mark.slow
@needs_fork
def test_every_module_imports_first_in_a_fresh_process():
    done = _python(["-m", "tests.fresh_imports"], str(ROOT))
    assert done.returncode == 0, done.stdout + done.stderr


@needs_fork
def test_a_failing_module_is_named_with_its_error(tmp_path):
    """The check bites: the package-level loop that once broke `import edge_swin.eval.sharded` (OLD_LOOP)."""
    write_tree(tmp_path, OLD_LOOP)
    code = "from tests.fresh_imports import import_each; print(import_each(['pkg.eval.sharded', 'pkg.train'], 2))"
    done = _python(["-c", code], f"{ROOT}{os.pathsep}{tmp_path}")
    failures = ast.literal_eval(done.stdout)
    assert list(failures) == ["pkg.eval.sharded"]  # pkg.train imports when it comes first: only sharded breaks
    assert failures["pkg.eval.sharded"].startswith("ImportError: cannot import name 'evaluate_sharded'")
