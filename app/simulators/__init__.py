"""Simulated smart lights on MQTT, one per firmware family, for tests and demos without hardware."""

from app.simulators.lights import FAMILIES, SimState, SimulatedLight, make_simulator

__all__ = ["FAMILIES", "SimState", "SimulatedLight", "make_simulator"]
