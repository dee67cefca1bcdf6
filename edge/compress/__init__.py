"""Compression methods for the edge models, one per module; each returns a plain ``nn.Module`` that
goes through the same compile path as the dense model:

* :mod:`edge.compress.prune`: unstructured global magnitude pruning with lottery-ticket rewinding;
* :mod:`edge.compress.channel`: structured channel pruning that physically shrinks layers;
* :mod:`edge.compress.lowrank`: SVD factorisation and ordered-dropout low-rank training;
* :mod:`edge.compress.quantize`: post-training int8 quantisation (simulated in float, or QDQ ONNX).

Shared helpers: :mod:`edge.compress.surgery` (resizing layers, folding batch norm) and
:mod:`edge.compress.stats` (parameters, non-zeros, multiply-accumulates).
"""
