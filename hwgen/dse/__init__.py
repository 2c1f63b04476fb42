"""Design-space sweeps on Dask (:mod:`.sweep`), from sweep files (:mod:`.spec`), one
subprocess per point (:mod:`.point`)."""
from .spec import Sweep, SweepError, load_sweep

__all__ = ["Sweep", "SweepError", "load_sweep"]
