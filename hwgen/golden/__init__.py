"""NumPy reference models, exact in integers. Benches, driver and LLM layers all call these."""
from .gemm import gemm, gemm_tiled_ws

__all__ = ["gemm", "gemm_tiled_ws"]
