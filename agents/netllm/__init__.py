"""NetLLM-style adaptation of a pretrained language model to the networking environments
(Wu et al., SIGCOMM 2024).

A task encoder turns each observation into token embeddings that a frozen causal language model
reads through ``inputs_embeds``; a networking head replaces the language-model head and answers
in one pass; low-rank adapters (LoRA) on the attention projections, the encoders and the heads are
the only trained weights. ABR learns offline from an experience pool of the classic controllers
with a return-conditioned (decision-transformer) objective; viewport prediction is supervised.

Modules: :mod:`~agents.netllm.backbone` (load a model), :mod:`~agents.netllm.encoders`,
:mod:`~agents.netllm.heads`, :mod:`~agents.netllm.lora`, :mod:`~agents.netllm.pool` (experience
collection), :mod:`~agents.netllm.training` (the shared training loop),
:mod:`~agents.netllm.offline_rl` (ABR: return-conditioned sequence model and trainer),
:mod:`~agents.netllm.supervised` (VP), :mod:`~agents.netllm.tasks` (what each task uses),
:mod:`~agents.netllm.policy` (the adapted model as a policy), :mod:`~agents.netllm.evaluate` (play it
in the environments), :mod:`~agents.netllm.adapt` (the pipeline: collect, train, load, evaluate),
:mod:`~agents.netllm.cli` (``hwsim netllm``) and :mod:`~agents.netllm.bench` (``hwsim bench netllm``).
Importing the package loads nothing; transformers and peft load inside the functions that use them.
"""
