"""dsjax: music generation with long-term structure, in JAX."""

__version__ = '0.1.0'
