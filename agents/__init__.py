"""RL environments and agents: networking tasks (ABR, viewport prediction, cluster scheduling),
network compression (N2N) and NetLLM-style adaptation of a language model.

Importing this package registers the gymnasium environments (``hwsim/<Name>-v0``, listed in
:mod:`agents.registration`); nothing heavy loads until ``gymnasium.make``.
"""

from agents.registration import register_all

register_all()
