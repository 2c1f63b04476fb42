"""Processing elements (Amaranth components)."""
from .mac import OSMacPE, WSMacPE, accumulate, operand_shape

__all__ = ["OSMacPE", "WSMacPE", "accumulate", "operand_shape"]
