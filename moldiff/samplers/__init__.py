"""Sampler step functions by name; all run through :func:`moldiff.samplers.loop.reverse_loop`."""
from moldiff.samplers.ancestral import ancestral_step

SAMPLERS = {"ancestral": ancestral_step}

__all__ = ["SAMPLERS", "ancestral_step"]
