"""Host driver: one API over the golden model, the Verilated RTL and a board."""
from .accelerator import Accelerator, DeviceError, DeviceTimeout, GroupScales, Requant, Stats
from .pim import PimError, PimKV, PimWeights

__all__ = ["Accelerator", "DeviceError", "DeviceTimeout", "GroupScales", "Requant", "Stats", "PimError", "PimKV", "PimWeights"]
