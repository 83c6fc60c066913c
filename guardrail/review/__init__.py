"""Reviewing flagged turns: calibration of thresholds from people's labels, policy-file updates."""

from guardrail.review.calibrate import Calibration, calibrate, calibrate_mechanism
from guardrail.review.policy_file import PolicyFileError, write_thresholds

__all__ = ["Calibration", "PolicyFileError", "calibrate", "calibrate_mechanism", "write_thresholds"]
