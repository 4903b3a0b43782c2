"""``iterations`` as in tf.keras 2 (int64), and never a silent int32 wrap (issue 12, item 5)."""

import jax
import numpy as np
import pytest

from optax_like import keras as K

INT32_MAX = 2 ** 31 - 1


def test_int64_counter_with_x64():
  with jax.enable_x64(True):
    opt, w = K.SGD(0.1), K.Variable(1.0)
    opt.iterations.assign(INT32_MAX)
    opt.apply_gradients([(np.float32(1.0), w)])
    assert opt.iterations.dtype == np.int64
    assert int(opt.iterations.numpy()) == INT32_MAX + 1
    assert opt.get_weights()[0].dtype == np.int64


@pytest.mark.parametrize('how', ['apply_gradients', 'minimize', 'function'])
def test_int32_counter_raises_before_wrapping(how):
  opt, w = K.Adam(0.1), K.Variable(np.ones(2, np.float32))
  step = {'apply_gradients': lambda: opt.apply_gradients([(np.ones(2, np.float32), w)]),
          'minimize': lambda: opt.minimize(lambda: (w * w).sum(), [w])}.get(how)
  if step is None:
    step = K.function(lambda: opt.apply_gradients([(np.ones(2, np.float32), w)]))
  step()
  assert opt.iterations.dtype == np.int32 and opt.get_weights()[0].dtype == np.int64
  opt.iterations.assign(INT32_MAX - 1)
  step()                                         # reaches 2**31 - 1
  assert int(opt.iterations.numpy()) == INT32_MAX
  before = [x.copy() for x in opt.get_weights()], w.numpy().copy()
  with pytest.raises(OverflowError, match='jax_enable_x64'):
    step()
  after = opt.get_weights(), w.numpy()
  for a, b in zip(before[0], after[0]):         # a rejected step changes nothing
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(before[1], after[1])
  assert opt.get_weights()[0] == INT32_MAX


def test_assigning_past_int32_is_an_overflow_error():
  opt = K.SGD()
  with pytest.raises(OverflowError, match='int32'):
    opt.iterations = 2 ** 31
  w = K.Variable(1.0)
  opt.apply_gradients([(1.0, w)])
  with pytest.raises(OverflowError):
    opt.set_weights([np.int64(2 ** 40)])
  assert int(opt.iterations.numpy()) == 1
