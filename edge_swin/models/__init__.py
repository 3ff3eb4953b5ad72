"""Swin Transformer V1 in PyTorch: `create_swin`, `load_checkpoint` and the modules they build."""
from edge_swin.models.checkpoint import LoadResult, load_checkpoint, read_state_dict
from edge_swin.models.registry import ALIASES, VARIANTS, create_swin, list_models, model_config, resolve_name
from edge_swin.models.swin_transformer import SwinTransformer
from edge_swin.models.window_attention import WindowAttention

__all__ = [
    "ALIASES", "VARIANTS", "LoadResult", "SwinTransformer", "WindowAttention", "create_swin", "list_models",
    "load_checkpoint", "model_config", "read_state_dict", "resolve_name",
]
