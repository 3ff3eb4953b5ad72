"""ONNX export: every W-MSA / SW-MSA block becomes one `edge_swin::SwinWindowAttention` node (an ONNX local function).

    from edge_swin.export import export_onnx
    res = export_onnx(model, "runs/x/export/model.onnx", dynamic_batch=True, precision="fp16",
                      attention_body=get_target("h100").attention)
    res.path, res.report_path, res.report["custom_op_count"]

`custom_op=False` exports the plain graph. Errors are `ExportError` (an EdgeSwinError) naming the block and reason.
The op's signature and bodies: `edge_swin.export.function`; the graph report: `edge_swin.export.report`.
"""
from edge_swin.export.errors import ExportError
from edge_swin.export.exporter import PRECISIONS, ExportResult, attention_blocks, check_block, export_onnx
from edge_swin.export.function import BODIES, DOMAIN, FUNCTION_VERSION, OP_TYPE, window_attention_function
from edge_swin.export.report import format_report, graph_report
from edge_swin.export.simplify import simplify

__all__ = ["BODIES", "DOMAIN", "FUNCTION_VERSION", "OP_TYPE", "PRECISIONS", "ExportError", "ExportResult",
           "attention_blocks", "check_block", "export_onnx", "format_report", "graph_report", "simplify",
           "window_attention_function"]
