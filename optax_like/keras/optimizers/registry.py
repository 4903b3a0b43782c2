"""``serialize``, ``deserialize`` and ``get``: optimizers by name or config, as ``tf.keras.optimizers``."""

from __future__ import annotations

from typing import Any, Dict, Optional

from optax_like.keras.optimizers.adadelta import Adadelta
from optax_like.keras.optimizers.adagrad import Adagrad
from optax_like.keras.optimizers.adamax import Adamax
from optax_like.keras.optimizers.base import Optimizer
from optax_like.keras.optimizers.ftrl import Ftrl
from optax_like.keras.optimizers.nadam import Nadam
from optax_like.keras.optimizers.adam import Adam
from optax_like.keras.optimizers.lars import LARS
from optax_like.keras.optimizers.rmsprop import RMSprop
from optax_like.keras.optimizers.sgd import SGD

_CLASSES = {'SGD': SGD, 'Adam': Adam, 'RMSprop': RMSprop, 'LARS': LARS, 'Adagrad': Adagrad,
            'Adadelta': Adadelta, 'Adamax': Adamax, 'Nadam': Nadam, 'Ftrl': Ftrl}
_ALIASES = {name.lower(): name for name in _CLASSES}


def serialize(optimizer: Optimizer) -> Dict[str, Any]:
  """``{"class_name", "config"}`` of an optimizer (its ``get_config``)."""
  return {'class_name': type(optimizer).__name__, 'config': optimizer.get_config()}


def deserialize(config: Dict[str, Any], custom_objects: Optional[Dict[str, Any]] = None):
  """Rebuilds an optimizer from ``serialize``'s output."""
  classes = dict(_CLASSES)
  classes.update(custom_objects or {})
  name = config['class_name']
  name = _ALIASES.get(name.lower(), name) if name not in classes else name
  if name not in classes:
    raise ValueError(f'Unknown optimizer: {config["class_name"]!r}. Known: {sorted(_CLASSES)}.')
  return classes[name].from_config(config['config'], custom_objects=custom_objects)


def get(identifier: Any) -> Optimizer:
  """An optimizer from an instance, a name (``'sgd'``, ``'adam'``...) or a config dict."""
  if isinstance(identifier, Optimizer):
    return identifier
  if isinstance(identifier, dict):
    return deserialize(identifier)
  if isinstance(identifier, str):
    name = _ALIASES.get(identifier.lower(), identifier)
    if name in _CLASSES:
      return _CLASSES[name]()
  raise ValueError(f'Could not interpret optimizer identifier: {identifier!r}')
