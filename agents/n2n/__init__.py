"""N2N learning (Ashok et al., ICLR 2018): compress a teacher network into a student with
reinforcement learning over two stages, layer removal then layer shrinkage.

Modules, one concept each:

* :mod:`agents.n2n.layers`: the architecture description, actions on it, and the student builder;
* :mod:`agents.n2n.data` and :mod:`agents.n2n.teachers`: the data sets and the teacher zoo;
* :mod:`agents.n2n.distill`: knowledge distillation of a student (logit regression);
* :mod:`agents.n2n.latency` and :mod:`agents.n2n.reward`: cost models and the N2N reward;
* :mod:`agents.n2n.cache`, :mod:`agents.n2n.task` and :mod:`agents.n2n.rollouts`: evaluated students,
  the compression task the environments and the trainer share, and parallel evaluation;
* :mod:`agents.n2n.policies`, :mod:`agents.n2n.reinforce`, :mod:`agents.n2n.trainer`: the policies,
  REINFORCE and the two-stage trainer; :mod:`agents.n2n.search`: the baselines;
* :mod:`agents.n2n.cli` and :mod:`agents.n2n.bench`: ``hwsim compress n2n`` and ``hwsim bench compress``.

The gymnasium environments are ``hwsim/N2NRemoval-v0``, ``hwsim/N2NShrink-v0`` and
``hwsim/N2NSequential-v0`` (:mod:`agents.envs.n2n_removal`, ``n2n_shrink``, ``n2n_sequential``).
Nothing here is imported by ``import agents``.
"""
