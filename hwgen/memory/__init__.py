"""Banked memories that are more than a scratchpad: the PIM banks (GEMV beside the data, docs/pim.md)."""
from .pim import GEMV_LATENCY, GemvArgs, GemvBoundsCheck, PimBanks, fmt_code

__all__ = ["GEMV_LATENCY", "GemvArgs", "GemvBoundsCheck", "PimBanks", "fmt_code"]
