"""Model import: networks from other tools lowered to accelerator work (:mod:`.lowered`);
hls4ml's ``ModelGraph`` is the way in (:mod:`.hls4ml`, the ``hls4ml`` extra)."""
from .lowered import Conv, Dense, FrontendError, Host, LoweredModel, Stage, check_fits, im2col

__all__ = ["Conv", "Dense", "FrontendError", "Host", "LoweredModel", "Stage", "check_fits", "im2col"]
