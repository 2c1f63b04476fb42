"""Tensor engines built from PEs, one module per family; :func:`build_array` picks one."""
from amaranth.lib import wiring

from ..config import ArrayConfig
from .adder_tree import AdderTreeWS
from .bit_serial import BitSerialOS
from .dot import DotOS
from .lut import LutOS
from .systolic import SystolicOS, SystolicWS, ws_view

__all__ = ["SystolicOS", "SystolicWS", "DotOS", "AdderTreeWS", "BitSerialOS", "LutOS", "build_array"]


def build_array(cfg: ArrayConfig) -> wiring.Component:
    """The engine component a config describes."""
    if cfg.kind == "systolic":
        if cfg.dataflow == "output_stationary":
            return SystolicOS(cfg)
        if cfg.dataflow == "input_stationary":
            return SystolicWS(ws_view(cfg), stationary="a", streamed="w")
        return SystolicWS(cfg)
    if cfg.kind in ("cube", "matrix2d"):
        return DotOS(cfg)
    if cfg.kind == "adder_tree":
        return AdderTreeWS(cfg)
    if cfg.kind == "bit_serial":
        return BitSerialOS(cfg)
    if cfg.kind == "lut":
        return LutOS(cfg)
    raise ValueError(f"unsupported array kind {cfg.kind!r}")
