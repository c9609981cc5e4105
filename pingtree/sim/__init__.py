"""Simulated buyers for the demo, the tests and the benchmarks: behaviours (`behaviour.py`) and
the app that plays them (`server.py`). The sim knows nothing of the router or the codec, so that
it tests them rather than agreeing with them."""

from pingtree.sim.behaviour import DEFAULT_SPEC, SimBuyer, SimSpec, load_sim, parse_sim
from pingtree.sim.server import HANG_S, create_sim_app

__all__ = [
    "DEFAULT_SPEC",
    "HANG_S",
    "SimBuyer",
    "SimSpec",
    "create_sim_app",
    "load_sim",
    "parse_sim",
]
