"""The package's shape: no import circle (between files, or through a package's __init__.py), the library never
imports the entry points above it, the plugin library never reaches into trt/, and the SwinWindowAttention contract
(edge_swin/plugins/swin_window_attention/contract.py) is the only place its facts are written, importable with the
standard library alone. Reads our sources (tests/test_fresh_imports.py imports each module); only the import-cost
checks start an interpreter."""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from edge_swin.plugins.swin_window_attention import contract
from tests.source_tree import OLD_LOOP, PACKAGES, ROOT, sources, write_tree

SCANNED = (*PACKAGES, "benchmarks")  # where the op's facts must not be written again
OWNER = ROOT / "edge_swin" / "plugins" / "swin_window_attention" / "contract.py"
CONTRACT_NAMES = ("DOMAIN", "OP_TYPE", "DOMAIN_VERSION", "FUNCTION_VERSION", "PLUGIN_NAMESPACE", "PLUGIN_VERSION",
                  "HEAD_DIM", "INPUTS", "SCALE_INPUTS", "INT8_INPUTS", "ATTRIBUTES", "PLUGIN_NAME", "BLOCK_QUANTIZERS")


def _ancestors(name: str) -> list[str]:
    """a.b.c -> [a, a.b]: the packages whose __init__ Python runs before a.b.c."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """Our modules `path` imports, at module level or inside functions (both run, both can close a circle).

    Importing a.b.c runs a/__init__.py and a/b/__init__.py first, so those count as imported too, except the
    importer's own packages: Python has already run (or is running) them before the importer's first line."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    own_packages = set(_ancestors(name)) | ({name} if path.name == "__init__.py" else set())
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # `from pkg import mod` imports pkg.mod where that is a module; else a name from pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import a.b.c` of a name inside a module: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
                found.update(p for p in _ancestors(target) if p in modules and p not in own_packages)
    return found


def import_graph(root: Path = ROOT, packages=PACKAGES) -> dict[str, set[str]]:
    modules = sources(packages, root)
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    graph = import_graph()
    assert graph["edge_swin.trt.builder"] >= {"edge_swin.plugins.swin_window_attention.library",
                                              "edge_swin.plugins.swin_window_attention.contract"}  # the walk sees
    assert cycles(graph) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def _fresh_import(root: Path, module: str) -> str:
    """The error a fresh interpreter prints importing `module` from `root` ("" when it imports)."""
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)})
    return done.stderr if done.returncode else ""


def test_a_package_init_closes_a_circle(tmp_path):
    """The loop that once broke `import edge_swin.eval.sharded` (OLD_LOOP): seen, and real in a fresh process."""
    write_tree(tmp_path, OLD_LOOP)
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.eval.sharded"] == {"pkg.train", "pkg.train.distributed"}
    assert cycles(graph) == [["pkg.eval.sharded", "pkg.train", "pkg.train.trainer"]]
    assert "partially initialized module" in _fresh_import(tmp_path, "pkg.eval.sharded")  # the loop is real
    # the fix that was made: distributed helpers in a package that runs no trainer
    (tmp_path / "pkg/utils").mkdir()
    (tmp_path / "pkg/utils/__init__.py").write_text("")
    (tmp_path / "pkg/train/distributed.py").rename(tmp_path / "pkg/utils/distributed.py")
    (tmp_path / "pkg/eval/sharded.py").write_text("from pkg.utils.distributed import world_size\n")
    assert cycles(import_graph(tmp_path, ("pkg",))) == []
    assert _fresh_import(tmp_path, "pkg.eval.sharded") == ""


def test_a_module_may_import_its_siblings(tmp_path):
    """A module's own packages have run before its first line: trainer importing a sibling is no circle through
    train/__init__.py; importing a name that train/__init__.py defines is one (it may not be defined yet)."""
    write_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/train/__init__.py": "from pkg.train.trainer import train\nDEFAULT = 1\n",
        "pkg/train/trainer.py": "from . import optim\nfrom pkg.train.optim import sgd\n",
        "pkg/train/optim.py": "",
    })
    assert cycles(import_graph(tmp_path, ("pkg",))) == []
    (tmp_path / "pkg/train/optim.py").write_text("from pkg.train import DEFAULT\n")
    assert cycles(import_graph(tmp_path, ("pkg",))) == [["pkg.train", "pkg.train.optim", "pkg.train.trainer"]]


def test_the_library_never_imports_what_stands_above_it():
    """edge_swin and calib are what pipelines/, benchmarks/ and examples/ use; never the other way round."""
    above = {"pipelines", "benchmarks", "examples", "tests"}
    arrows = []
    for name, path in sources(("edge_swin", "calib")).items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            arrows += [(name, n) for n in names if n.split(".")[0] in above]
    assert arrows == []


def test_plugins_never_import_trt():
    """The plugin library is below the TensorRT side: edge_swin/trt uses it, never the other way round."""
    arrows = [(src, dst) for src, dsts in import_graph().items() if src.startswith("edge_swin.plugins")
              for dst in dsts if dst == "edge_swin.trt" or dst.startswith("edge_swin.trt.")]
    assert arrows == []


GROUND = ("edge_swin.errors", "edge_swin.utils")  # what every stage may stand on


def test_the_node_folder_stands_on_the_ground_only():
    """The node takes its inputs; reading them from a PyTorch or modelopt block is edge_swin.quant's work
    (quant.node_inputs), so quant, export, runtime and trt stand on the node folder, never under it."""
    arrows = [(src, dst) for src, dsts in import_graph().items() if src.startswith("edge_swin.plugins")
              for dst in dsts if dst.startswith("edge_swin") and not dst.startswith("edge_swin.plugins")
              and dst != "edge_swin" and not any(dst == g or dst.startswith(f"{g}.") for g in GROUND)]
    assert arrows == []


TESTING_CORNER = "edge_swin.plugins.swin_window_attention.testing"


def test_the_product_never_imports_the_testing_corner():
    """The node's testing/ (the GPU harness, sanitizer builds) serves tests and the GPU suite (benchmarks/) only:
    no module of the product imports it, so it can change or go without touching what users run."""
    arrows = [(src, dst) for src, dsts in import_graph().items() if not src.startswith(TESTING_CORNER)
              for dst in dsts if dst == TESTING_CORNER or dst.startswith(f"{TESTING_CORNER}.")]
    assert arrows == []
    assert any(dst.startswith(TESTING_CORNER) for dst in _imports(ROOT / "benchmarks" / "gpu_sections.py",
                                                                   "benchmarks.gpu_sections", sources(SCANNED))), \
        "the check above would see such an import: the GPU suite's is one"


def _literals(tree) -> list[tuple[int, str]]:
    """String constants that are values (not docstrings) with their line."""
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_op_name_is_defined_only_in_its_owner():
    """The op's name, its domain as a node's domain, and the contract's constants are written once."""
    op = contract.OP_TYPE
    offenders = []
    for name, path in sources(SCANNED).items():
        if path == OWNER:
            continue
        tree = ast.parse(path.read_text(), str(path))
        rel = path.relative_to(ROOT)
        offenders += [f"{rel}:{line}: {value!r}" for line, value in _literals(tree)
                      if value == op or f"::{op}" in value or value.startswith(f"{op} ")]
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) \
                    and node.left.attr in ("domain", "op_type") \
                    and any(isinstance(c, ast.Constant) and c.value in (contract.DOMAIN, op) for c in node.comparators):
                offenders.append(f"{rel}:{node.lineno}: compares .{node.left.attr} with a literal "
                                 "(use contract.attention_nodes)")
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                named = [t.id for t in targets if isinstance(t, ast.Name) and t.id in CONTRACT_NAMES]
                if named and isinstance(node.value, (ast.Constant, ast.List, ast.Tuple)):
                    offenders.append(f"{rel}:{node.lineno}: {named[0]} written again (import it from contract)")
    assert offenders == []


def test_the_owner_is_where_the_name_is():
    """The check above bites: the owner does define the literals it looks for."""
    values = [v for _, v in _literals(ast.parse(OWNER.read_text()))]
    assert contract.OP_TYPE in values and contract.DOMAIN in values


def test_cpp_plugin_constants_match_the_contract():
    """csrc/swin_attention_params.h cannot import Python: its copy of the identity must equal the owner's."""
    header = (ROOT / "edge_swin" / "plugins" / "swin_window_attention" / "csrc" / "swin_attention_params.h").read_text()

    def constant(name):
        match = re.search(rf"\b{name}\s*=\s*\"?([^\";]+)\"?;", header)
        assert match, f"{name} not found in swin_attention_params.h"
        return match.group(1)

    assert constant("kPluginName") == contract.OP_TYPE
    assert constant("kPluginVersion") == contract.PLUGIN_VERSION
    assert constant("kPluginNamespace") == contract.PLUGIN_NAMESPACE
    assert int(constant("kFunctionVersion")) == contract.FUNCTION_VERSION
    assert int(constant("kHeadDim")) == contract.HEAD_DIM
    assert int(constant("kFp16NodeInputs")) == len(contract.INPUTS)
    assert int(constant("kInt8NodeInputs")) == len(contract.INT8_INPUTS)


CSRC = ROOT / "edge_swin" / "plugins" / "swin_window_attention" / "csrc"


def _cpp_strings(text: str) -> list[str]:
    return re.findall(r'"([^"\\]*)"', text)


def cpp_input_names(source: str) -> tuple[str, ...]:
    """The names of the C++ kInputNames array (its initialiser's strings, in order)."""
    match = re.search(r"kInputNames\[[^\]]*\]\s*=\s*\{(.*?)\};", source, re.S)
    assert match, "kInputNames not found in swin_window_attention_plugin.cpp"
    return tuple(_cpp_strings(match.group(1)))


def cpp_field_lists(source: str) -> list[tuple[str, ...]]:
    """Every list of plugin field names in swin_attention_params.cpp: the creator's field list, the serialised
    fields, the parser's strcmp chain and its list of missing names."""
    return [tuple(re.findall(r'PluginField\("(\w+)", nullptr', source)),
            tuple(re.findall(r'mFields\[\d\] = PluginField\("(\w+)"', source)),
            tuple(re.findall(r'strcmp\(f\.name, "(\w+)"\)', source)),
            tuple(_cpp_strings(re.search(r"names\[\]\s*=\s*\{(.*?)\};", source, re.S).group(1)))]


def test_cpp_input_names_and_counts_match_the_contract():
    """The plugin names inputs in its errors (kInputNames) and counts them (kFp16NodeInputs, kInt8NodeInputs):
    the names in node order are the contract's, and no count is written as a number in a message."""
    plugin = (CSRC / "swin_window_attention_plugin.cpp").read_text()
    assert cpp_input_names(plugin) == contract.INT8_INPUTS
    assert cpp_input_names(plugin)[len(contract.INPUTS):] == contract.SCALE_INPUTS
    literal_counts = re.findall(rf"\b({len(contract.INPUTS)}|{len(contract.INT8_INPUTS)}) \((FP16|INT8) export",
                                plugin)
    assert literal_counts == [], "an input count written as a literal: use kFp16NodeInputs / kInt8NodeInputs"


def test_cpp_plugin_fields_match_the_contract_attributes():
    """The node's attributes are the plugin's fields, wherever swin_attention_params.cpp lists them."""
    params = (CSRC / "swin_attention_params.cpp").read_text()
    for names in cpp_field_lists(params):
        assert names == contract.ATTRIBUTES


def test_the_cpp_checks_bite():
    """The parsers above read what they claim: a renamed or reordered scale input is seen."""
    swapped = 'kInputNames[kInt8NodeInputs] = {"x", "qkv_w", "qkv_b", "proj_w", "proj_b", "rel_bias", "mask", ' \
              '"q_scale", "qkv_x_scale"};'
    assert cpp_input_names(swapped)[7:] == ("q_scale", "qkv_x_scale") != contract.SCALE_INPUTS[:2]


def test_scale_inputs_name_quantizers_that_quant_places():
    """Each INT8 scale input comes from a quantizer edge_swin.quant puts in a block: one of QuantWindowAttention's
    (quant/attention.py) or the input/weight quantizer modelopt gives the block's qkv and proj Linears."""
    tree = ast.parse((ROOT / "edge_swin" / "quant" / "attention.py").read_text())
    table = next(n for n in ast.walk(tree) if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") ==
                 "ATTENTION_QUANTIZERS")
    placed = {key.value for key in table.value.keys} | {f"{linear}.{q}_quantizer" for linear in ("qkv", "proj")
                                                         for q in ("input", "weight")}
    assert [path for _, path, _ in contract.BLOCK_QUANTIZERS if path not in placed] == []
    assert contract.SCALE_INPUTS == contract.INT8_INPUTS[len(contract.INPUTS):]
    per_channel = [path for _, path, channel in contract.BLOCK_QUANTIZERS if channel]
    assert per_channel == ["qkv.weight_quantizer", "proj.weight_quantizer"]  # the two weights, per output channel


def test_no_public_name_of_quant_is_also_a_submodule():
    """edge_swin.quant hands its names out on first use; a submodule named like one of them (calibrate.py beside
    the calibrate function) would replace that name on the package the moment anything imported the submodule."""
    tree = ast.parse((ROOT / "edge_swin" / "quant" / "__init__.py").read_text())
    table = next(n.value for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "_HOME")
    names = {key.value for key in table.keys}
    homes = {value.value for value in table.values}
    submodules = {p.stem for p in (ROOT / "edge_swin" / "quant").glob("*.py")}
    assert homes <= submodules and "calibrate" in names  # the table is what this test reads
    assert names & submodules == set()


def _modules_loaded_by(imports: str) -> set[str]:
    """Top-level packages a fresh interpreter holds after `imports` (Python statements)."""
    code = f"{imports}\nimport sys; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_contract_imports_with_the_standard_library_only():
    loaded = _modules_loaded_by("import edge_swin.plugins.swin_window_attention.contract")
    assert loaded - _modules_loaded_by("") - set(sys.stdlib_module_names) == {"edge_swin"}  # "": site's own


def test_the_runtime_the_emulation_and_the_exporter_import_no_modelopt():
    """Reading scales lives in edge_swin.quant, whose face imports modelopt (slow) only when a name needs it."""
    loaded = _modules_loaded_by("import edge_swin.runtime.convert, edge_swin.runtime.modules, edge_swin.export, "
                                "edge_swin.quant.scales, edge_swin.quant.node_inputs, edge_swin.quant.fp8_quantizers, "
                                "edge_swin.plugins.swin_window_attention.emulate")
    assert "modelopt" not in loaded
