"""skillopt: train a skill document like weights, as a tracked and reproducible experiment."""

__version__ = "0.1.0"
