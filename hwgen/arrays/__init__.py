"""Tensor engines built from PEs."""
from .systolic import SystolicOS, SystolicWS, build_array

__all__ = ["SystolicOS", "SystolicWS", "build_array"]
