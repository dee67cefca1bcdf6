"""Gymnasium environments, one class per module (networking: :mod:`agents.envs.abr`,
:mod:`agents.envs.viewport`, :mod:`agents.envs.cluster`). Make them through
``gymnasium.make("hwsim/<Name>-v0")`` after ``import agents``; the ids are in :mod:`agents.registration`."""
