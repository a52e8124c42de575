"""Matmul FLOPs of a JAX function, counted from its jaxpr.

``matmul_flops(fn, *args)`` adds up ``2 * M * N * K`` over every ``dot_general`` (and the
multiply-adds of every convolution) that ``fn`` runs, with a ``lax.scan`` body counted once per
step, the larger branch of a ``cond``, and derivatives included when ``fn`` takes them (a
``custom_vjp`` backward is traced into the jaxpr of ``jax.grad``), after dead code is removed.
XLA's own
``compiled.cost_analysis()`` counts a loop body once, whatever its trip count, so it undercounts
recurrent networks by the sequence length.

Divided by a step time, this gives the achieved matmul rate; divided by the machine's matmul peak,
the least time the step could take (``bench/rnn_speed.py`` reports both).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
from jax._src.interpreters import partial_eval as pe  # dce_jaxpr: not exported by jax.extend
from jax.extend import core as jex_core


def matmul_flops(fn: Callable[..., Any], *args, **kwargs) -> int:
  """FLOPs of the matrix products and convolutions ``fn(*args, **kwargs)`` performs.

  A ``while_loop`` body (unknown trip count) is counted once; ``scan`` bodies (``fori_loop`` with
  static bounds included) are counted ``length`` times.
  """
  jaxpr = jax.make_jaxpr(fn)(*args, **kwargs).jaxpr
  # Dead code out first (as XLA would): e.g. the critic's weight gradients in a generator step.
  jaxpr, _ = pe.dce_jaxpr(jaxpr, [True] * len(jaxpr.outvars))
  return _jaxpr_flops(jaxpr)


def _size(shape) -> int:
  return int(math.prod(int(d) for d in shape))


def _dot_flops(eqn) -> int:
  lhs = eqn.invars[0].aval
  (lhs_contract, _), _ = eqn.params['dimension_numbers']
  k = _size(lhs.shape[d] for d in lhs_contract)
  return 2 * k * _size(eqn.outvars[0].aval.shape)


def _conv_flops(eqn) -> int:
  rhs = eqn.invars[1].aval
  dn = eqn.params['dimension_numbers']
  # kernel: [out_features, in_features / groups, *window] in the rhs_spec order
  rhs_spec = dn.rhs_spec
  in_per_group = int(rhs.shape[rhs_spec[1]])
  window = _size(rhs.shape[d] for d in rhs_spec[2:])
  return 2 * in_per_group * window * _size(eqn.outvars[0].aval.shape)


def _sub_jaxprs(value):
  if isinstance(value, jex_core.ClosedJaxpr):
    yield value.jaxpr
  elif isinstance(value, jex_core.Jaxpr):
    yield value
  elif isinstance(value, (tuple, list)):
    for v in value:
      yield from _sub_jaxprs(v)


def _jaxpr_flops(jaxpr) -> int:
  total = 0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == 'dot_general':
      total += _dot_flops(eqn)
    elif name == 'conv_general_dilated':
      total += _conv_flops(eqn)
    elif name == 'cond':
      total += max(_jaxpr_flops(b.jaxpr) for b in eqn.params['branches'])
    else:
      inner = sum(_jaxpr_flops(j) for v in eqn.params.values() for j in _sub_jaxprs(v))
      total += inner * int(eqn.params['length']) if name == 'scan' else inner
  return total
