"""The package's shape: no import circle, the plugin library never reaches into trt/, and the SwinWindowAttention
contract (edge_swin/plugins/swin_window_attention/contract.py) is the only place its facts are written. Reads the sources; imports nothing."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from edge_swin.plugins.swin_window_attention import contract

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edge_swin", "pipelines", "calib")
SCANNED = (*PACKAGES, "benchmarks")  # where the op's facts must not be written again
OWNER = ROOT / "edge_swin" / "plugins" / "swin_window_attention" / "contract.py"
CONTRACT_NAMES = ("DOMAIN", "OP_TYPE", "DOMAIN_VERSION", "FUNCTION_VERSION", "PLUGIN_NAMESPACE", "PLUGIN_VERSION",
                  "HEAD_DIM", "INPUTS", "SCALE_INPUTS", "INT8_INPUTS", "ATTRIBUTES", "PLUGIN_NAME")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources(folders) -> dict[str, Path]:
    return {_module_name(p): p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))
            if "bundle_templates" not in p.parts}  # the bundle's scripts run without the package


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """Our modules `path` imports, at module level or inside functions (both run, both can close a circle)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
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
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _sources(PACKAGES)
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


def test_plugins_never_import_trt():
    """The plugin library is below the TensorRT side: edge_swin/trt uses it, never the other way round."""
    arrows = [(src, dst) for src, dsts in import_graph().items() if src.startswith("edge_swin.plugins")
              for dst in dsts if dst == "edge_swin.trt" or dst.startswith("edge_swin.trt.")]
    assert arrows == []


TESTING_CORNER = "edge_swin.plugins.swin_window_attention.testing"


def test_the_product_never_imports_the_testing_corner():
    """The node's testing/ (the GPU harness, sanitizer builds) serves tests and the GPU suite (benchmarks/) only:
    no module of the product imports it, so it can change or go without touching what users run."""
    arrows = [(src, dst) for src, dsts in import_graph().items() if not src.startswith(TESTING_CORNER)
              for dst in dsts if dst == TESTING_CORNER or dst.startswith(f"{TESTING_CORNER}.")]
    assert arrows == []
    assert any(dst.startswith(TESTING_CORNER) for dst in _imports(ROOT / "benchmarks" / "gpu_sections.py",
                                                                   "benchmarks.gpu_sections", _sources(SCANNED))), \
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
    for name, path in _sources(SCANNED).items():
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


def test_scale_inputs_follow_the_quantizers():
    """The INT8 node's scale inputs are the block quantizers' scales, in the same order (export/qdq.py)."""
    tree = ast.parse((ROOT / "edge_swin" / "export" / "qdq.py").read_text())
    table = next(n for n in ast.walk(tree) if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") ==
                 "BLOCK_QUANTIZERS")
    names = tuple(row.elts[0].value for row in table.value.elts)
    assert names == contract.SCALE_INPUTS
