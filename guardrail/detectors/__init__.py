"""One detector per mechanism, all reading the same text profiles."""

from guardrail.detectors.attenuation import AttenuationDetector
from guardrail.detectors.base import Detector, Pair
from guardrail.detectors.conflict_avoidance import ConflictAvoidanceDetector
from guardrail.detectors.distancing import DistancingDetector
from guardrail.detectors.granularity import GranularityDetector


def default_detectors() -> list[Detector]:
    """The linguistic detectors, in mechanism order."""
    return [AttenuationDetector(), GranularityDetector(), ConflictAvoidanceDetector(), DistancingDetector()]


__all__ = ["AttenuationDetector", "ConflictAvoidanceDetector", "Detector", "DistancingDetector",
           "GranularityDetector", "Pair", "default_detectors"]
