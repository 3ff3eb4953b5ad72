"""Calibration sets: which images INT8 calibration sees, drawn reproducibly and recorded in a manifest."""
from calib.sampler import CalibrationSet, draw_calibration_set

__all__ = ["CalibrationSet", "draw_calibration_set"]
