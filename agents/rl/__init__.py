"""Reinforcement learning on hwsim's networking environments: a CleanRL-style PPO
(:mod:`agents.rl.ppo`) on the native vector environments, its networks (:mod:`agents.rl.networks`),
the test protocols and baselines per environment family (:mod:`agents.rl.tasks`), lockstep evaluation
(:mod:`agents.rl.evaluate`), the learning-curve plot (:mod:`agents.rl.curve`) and ``hwsim rl``
(:mod:`agents.rl.cli`). SB3 stays supported through :mod:`agents.ppo`."""
