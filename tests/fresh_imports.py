"""Import every module of ours FIRST in a process of its own; print each that fails, with its error.

`python -m tests.fresh_imports` from the repository root (tests/test_fresh_imports.py runs it). An import
circle through a package's __init__.py only shows when it is entered at the right module, so each module
gets a fresh process. Cheap: this process imports the third-party packages our modules import (torch,
onnx, modelopt, ...) and none of ours, then forks one child per module, which imports it and exits."""
from __future__ import annotations

import ast
import importlib
import os
import sys
import time
import traceback

from tests.source_tree import PACKAGES, sources

CHILD_TIMEOUT_S = 60  # one module's import; a hang (a lock taken at import) is reported, not waited out


def _third_party_imports(modules) -> list[str]:
    """Dotted third-party names our modules import anywhere (loading them first is what makes forks cheap)."""
    names = set()
    for path in modules.values():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module)
    ours = {*PACKAGES, "tests", "benchmarks"}
    return sorted(n for n in names if n.split(".")[0] not in ours and n.split(".")[0] not in sys.stdlib_module_names)


def _preload(names) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - optional (tensorrt, a GPU-only package): a child that needs it says so
            pass


def _ours_loaded() -> list[str]:
    return sorted(m for m in sys.modules if m.split(".")[0] in PACKAGES)


def _start(module: str) -> tuple[int, int]:
    """Fork a child that imports `module` and writes its traceback (if any) to a pipe: (pid, read end)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into the parent's loop
        os.close(read_end)
        code = 0
        try:
            importlib.import_module(module)
        except BaseException:  # noqa: BLE001 - whatever the import raised is the report
            os.write(write_end, traceback.format_exc().encode())
            code = 1
        os._exit(code)
    os.close(write_end)
    return pid, read_end


def _finish(pid: int, read_end: int, started: float) -> str:
    """The child's error ("" when it imported); a child still importing after CHILD_TIMEOUT_S is killed."""
    while not (done := os.waitpid(pid, os.WNOHANG))[0]:
        if time.monotonic() - started > CHILD_TIMEOUT_S:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            os.close(read_end)
            return f"still importing after {CHILD_TIMEOUT_S} s"
        time.sleep(0.01)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read().decode(errors="replace").strip()
    code = os.waitstatus_to_exitcode(done[1])
    if report:
        return report.splitlines()[-1]  # the exception line: "ImportError: cannot import name ..."
    return f"the child exited with {code}" if code else ""


def import_each(modules: list[str], parallel: int) -> dict[str, str]:
    """{module: error} for each module that fails to import first in a fresh (forked) process."""
    failures, running, pending = {}, [], list(reversed(modules))
    while pending or running:
        while pending and len(running) < parallel:
            module = pending.pop()
            running.append((module, *_start(module), time.monotonic()))
        module, pid, read_end, started = running.pop(0)
        if error := _finish(pid, read_end, started):
            failures[module] = error
    return failures


def main() -> int:
    modules = sources()
    if loaded := _ours_loaded():
        print(f"run this in a fresh process: it already holds {loaded[:5]}", file=sys.stderr)
        return 2
    started = time.monotonic()
    _preload(_third_party_imports(modules))
    if loaded := _ours_loaded():
        print(f"a third-party import loaded {loaded[:5]}: the children would not start fresh", file=sys.stderr)
        return 2
    preloaded = time.monotonic()
    failures = import_each(sorted(modules), max(1, len(os.sched_getaffinity(0))))
    print(f"{len(modules)} modules, each imported first in a forked process: {len(failures)} failed "
          f"(third-party preload {preloaded - started:.1f} s, imports {time.monotonic() - preloaded:.1f} s)")
    for module, error in sorted(failures.items()):
        print(f"  {module}: {error}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
