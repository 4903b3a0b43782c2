"""Microbatching (``optax.microbatching``): run a function over a large batch as a sequential
loop over microbatches, combining the results."""

from optax_like._src.microbatching import AccumulationType
from optax_like._src.microbatching import Accumulator
from optax_like._src.microbatching import micro_grad
from optax_like._src.microbatching import micro_vmap
from optax_like._src.microbatching import microbatch
from optax_like._src.microbatching import reshape_batch_axis

__all__ = ['AccumulationType', 'Accumulator', 'micro_grad', 'micro_vmap', 'microbatch',
           'reshape_batch_axis']
