"""The repository's network models, written with raw NEURON (``from neuron import h``)."""
