"""Physical neural networks: wave-based systems as black-box layers (``physical.systems``), trained
with model-free forward-forward, physics-aware training or in-silico backprop (``physical.trainer``).

Nothing is imported here, so ``import physical`` stays cheap; see ``docs/physical.md``.
"""
