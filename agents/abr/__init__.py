"""Adaptive bitrate streaming, in one place: the Pensieve simulator (:mod:`~agents.abr.sim`), network
traces and chunk sizes (:mod:`~agents.abr.traces`), the gymnasium environment (:mod:`~agents.abr.env`)
and its native vector form (:mod:`~agents.abr.vector`), the classic controllers
(:mod:`~agents.abr.baselines`), the test protocol (:mod:`~agents.abr.evaluate`) and episode pictures
(:mod:`~agents.abr.render`). The environment ids are ``hwsim/ABR-v0``, ``hwsim/ABR-FCC-Test-v0`` and
``hwsim/ABR-HSDPA-Test-v0`` (see :mod:`agents.registration`)."""

from agents.abr.baselines import BASELINES, BBA, RateBased, RobustMPC
from agents.abr.env import ABREnv
from agents.abr.evaluate import ABRResult, evaluate_abr
from agents.abr.sim import BITRATES_KBPS, ABRSimulator, qoe_lin
from agents.abr.traces import Trace, TraceSet, load_trace_set, load_video_sizes, parse_trace
from agents.abr.vector import ABRVectorEnv

__all__ = ["ABREnv", "ABRVectorEnv", "ABRSimulator", "ABRResult", "BASELINES", "BBA", "BITRATES_KBPS", "RateBased",
           "RobustMPC", "Trace", "TraceSet", "evaluate_abr", "load_trace_set", "load_video_sizes", "parse_trace",
           "qoe_lin"]
