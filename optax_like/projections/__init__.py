"""Euclidean projections of pytrees: optax.projections's names, signatures and numbers.

The implementations live in ``optax_like/_src/projections.py``.
"""

from optax_like._src.projections import projection_box
from optax_like._src.projections import projection_halfspace
from optax_like._src.projections import projection_hypercube
from optax_like._src.projections import projection_hyperplane
from optax_like._src.projections import projection_l1_ball
from optax_like._src.projections import projection_l1_sphere
from optax_like._src.projections import projection_l2_ball
from optax_like._src.projections import projection_l2_sphere
from optax_like._src.projections import projection_linf_ball
from optax_like._src.projections import projection_non_negative
from optax_like._src.projections import projection_simplex
from optax_like._src.projections import projection_vector

__all__ = sorted(_name for _name in dir() if not _name.startswith('_'))
