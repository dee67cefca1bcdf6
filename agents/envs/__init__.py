"""Gymnasium environments, one class per module (networking: :mod:`agents.envs.viewport`,
:mod:`agents.envs.cluster`; ABR lives with the rest of its task in :mod:`agents.abr`; compression:
``agents.envs.n2n_*``). Make them through ``gymnasium.make("hwsim/<Name>-v0")`` after
``import agents``; the ids are in :mod:`agents.registration`."""
