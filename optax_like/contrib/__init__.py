"""Contributed optimizers and transforms: optax.contrib's names, signatures, states and numbers.

Each method lives in its own module under ``optax_like/_src/contrib/``; its docstring gives the
update rule and the paper.
"""

# Each block is edited only by the work on that group; one import per line.
# [contrib-1]
# [end contrib-1]
# [contrib-2]
# [end contrib-2]

import types as _types

__all__ = sorted(_name for _name, _value in dict(globals()).items()
                 if not _name.startswith('_') and not isinstance(_value, _types.ModuleType))
