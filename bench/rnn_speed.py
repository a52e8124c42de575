"""Speed of dsjax's recurrent core on the workloads of ``../shared/bench/README.md`` (fp32, CPU).

  .venv/bin/python bench/rnn_speed.py [--w1-steps 10] [--w2-steps 15] [--w3-reps 3] [--only w1,w2,w3]

Run it next to the PyTorch peer in the same sitting, twice:
  /work/torch-ref/bin/python ../shared/bench/torch_ref.py && .venv/bin/python bench/rnn_speed.py

- W1: event-LM training step (vocab 388, embedding 256, LSTM 512 x 2, batch 32 x 256 steps,
  next-token cross-entropy, Adam 1e-3). Tokens per second, % of the fp32 matmul peak (analytic
  23.2 MFLOP per token, as ``peak.py``), compile time.
- W2: WGAN-GP on piano rolls ``[32, 64, 128]``: LSTM-256 generator fed noise(64) + t/T, LSTM-256
  critic on the last state; critic step with the gradient penalty (second order through the LSTM)
  and generator step, Adam 1e-4 (0.5, 0.9). Milliseconds per step. The losses are the project's
  (``dsjax.models.gan_losses.wgan_gp_critic_loss``, as ``dsjax.tasks.gan`` trains): real and fake
  scored in one critic pass over the joined batch (``--w2-separate``: two passes, as the peer).
- W3: sampling 16 x 1024 events from the W1 model, temperature 1, each sampled event fed back; one
  jitted ``lax.scan`` over the project's sampler step (``event_lm_stepper``: the embedding folded
  into the first layer's input kernel, a ``[vocab, 4H]`` table; later layers' kernels stacked),
  inverse-CDF draws from one uniform per event, drawn before the scan. Events per second, in
  float32 (``w3_events_per_s``, the comparison with torch) and with bfloat16 matmul inputs
  (``w3_bf16_events_per_s``, the ``sample.matmul_dtype=bfloat16`` option). ``--w3-module`` also
  times ``model.apply`` on one step inside the scan.

W2 and W3 also report their matmul FLOPs (``dsjax.flops.matmul_flops``: counted from the jaxpr,
scan bodies once per step, dead code removed), the achieved GFLOP/s as % of the measured fp32
matmul peak, and for W2 ``floor_ms``: the step time if every matmul ran at that peak and nothing
else took time (``w2_floor_ms`` = [critic, generator], ``w2_pct_of_peak``, ``w3_pct_of_peak``).

The models are small self-contained ones built on ``dsjax.nn``. ``--devices N`` splits the batch
over N CPU devices (``--xla_force_host_platform_device_count``; data parallelism, the same math);
the default is one device, which is what the summary keys report. Last stdout line:
``SUMMARY {json}`` with the keys of torch_ref.py.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

if __name__ == '__main__':  # huge pages for XLA's buffers, as the launchers (dsjax/runtime.py)
  from dsjax import runtime
  runtime.reexec_with_huge_pages()


def _parse_args(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--w1-steps', type=int, default=10)
  ap.add_argument('--w2-steps', type=int, default=15)
  ap.add_argument('--w3-reps', type=int, default=3)
  ap.add_argument('--only', default='w1,w2,w3')
  ap.add_argument('--impl', default='custom_vjp', choices=('custom_vjp', 'autodiff'),
                  help='LSTM implementation for W1 and the generator')
  ap.add_argument('--critic-impl', default='custom_vjp', choices=('custom_vjp', 'autodiff'))
  ap.add_argument('--w2-unroll', type=int, default=1, help='W2: lax.scan unroll of both LSTMs')
  ap.add_argument('--w2-separate', action='store_true',
                  help='W2: score real and fake in two critic passes (default: one joined pass)')
  ap.add_argument('--no-fold-embedding', action='store_true',
                  help='W1: embed the tokens, then project (instead of the folded table)')
  ap.add_argument('--w3-module', action='store_true',
                  help='also time the plain sampler (model.apply on one step inside lax.scan)')
  ap.add_argument('--devices', type=int, default=1, help='CPU devices to split the batch over')
  ap.add_argument('--peak-gflops', type=float, default=None,
                  help='fp32 matmul peak for the %% figure (default: measure 2048^2 with jax)')
  ap.add_argument('--benchutil', default=os.path.join(ROOT, '..', 'shared', 'bench', 'benchutil.py'))
  args = ap.parse_args(argv)
  args.todo = set(args.only.split(','))
  unknown = args.todo - {'w1', 'w2', 'w3'}
  if unknown:
    ap.error(f'--only: unknown workloads {sorted(unknown)}')
  if args.devices < 1:
    ap.error('--devices must be >= 1')
  return args


ARGS = _parse_args() if __name__ == '__main__' else None
if ARGS is not None and ARGS.devices > 1:  # before jax is imported
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                             f' --xla_force_host_platform_device_count={ARGS.devices}')

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec  # noqa: E402

from dsjax import sampling  # noqa: E402
from dsjax.flops import matmul_flops  # noqa: E402
from dsjax.models import gan_losses  # noqa: E402
from dsjax.models.language_models import event_lm_stepper  # noqa: E402
from dsjax.nn import recurrent as rnn  # noqa: E402

# ---- shapes (as torch_ref.py) ----
V, E, H, B, T = 388, 256, 512, 32, 256      # W1
GB, GT, P, Z, GH = 32, 64, 128, 64, 256     # W2
SB, ST = 16, 1024                           # W3
W1_FLOPS_PER_TOKEN = 3 * (2 * (E + H) * 4 * H + 2 * (H + H) * 4 * H + 2 * H * V)  # peak.py


def load_benchutil(path: str):
  """Imports ``benchutil.py`` (median/min/max, ForeignLoad) from the shared bench folder."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f'--benchutil: {path} not found (the shared bench folder)')
  spec = importlib.util.spec_from_file_location('benchutil', path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


class Placement:
  """Batch sharding over a 1-D ``data`` mesh of all devices (replicated state)."""

  def __init__(self, devices: int):
    if jax.device_count() < devices:
      raise RuntimeError(f'--devices {devices}: only {jax.device_count()} devices')
    mesh = jax.make_mesh((devices,), ('data',), axis_types=(jax.sharding.AxisType.Auto,))
    self.batch = NamedSharding(mesh, PartitionSpec('data'))
    self.batch_axis1 = NamedSharding(mesh, PartitionSpec(None, 'data'))
    self.replicated = NamedSharding(mesh, PartitionSpec())

  def constrain(self, x, sharding=None):
    return jax.lax.with_sharding_constraint(x, sharding or self.batch)


def block(tree):
  return jax.tree.map(lambda a: a.block_until_ready() if isinstance(a, jax.Array) else a, tree)


def compile_timed(fn, *args):
  """AOT-compiles ``fn`` (a ``jax.jit`` object) for ``args``; returns ``(compiled, seconds)``."""
  t0 = time.perf_counter()
  compiled = fn.lower(*args).compile()
  return compiled, time.perf_counter() - t0


class Timer:
  """Times calls of a state-threading function with warm-up, median/min/max and foreign load."""

  def __init__(self, bu):
    self.bu = bu

  def __call__(self, fn, state, warmup, steps):
    for _ in range(warmup):
      state = block(fn(state))
    ts = []
    with self.bu.ForeignLoad() as fl:
      for _ in range(steps):
        t0 = time.perf_counter()
        state = block(fn(state))
        ts.append(time.perf_counter() - t0)
    s = self.bu.summarize(ts)
    s['foreign_cores'] = round(fl.foreign_cores, 2)
    return s, state


# ------------------------------------------------------------------------------------- W1


class EventLM(nn.Module):
  """Embedding -> LSTMStack -> linear over the event vocabulary (PyTorch-like init, as the peer).

  With ``fold_embedding`` the stack gets the tokens and the embedding table (folded into the first
  layer's kernel: same function and gradients, ~10% less work); else the embedded sequence.
  """
  impl: str = 'custom_vjp'
  fold_embedding: bool = True

  @nn.compact
  def __call__(self, tokens, carry=None):
    embed = nn.Embed(V, E, name='embed')
    stack = rnn.LSTMStack((H, H), impl=self.impl, init_scheme='uniform', name='rnn')
    if self.fold_embedding:
      y, carry = stack(None, carry, tokens=tokens, embedding=embed.embedding)
    else:
      y, carry = stack(embed(tokens), carry)
    return nn.Dense(V, name='head')(y), carry


def w1(timer, place, steps, impl, fold, peak_gflops):
  model = EventLM(impl, fold)
  data = jax.random.randint(jax.random.key(0), (B, T + 1), 0, V)
  x, y = jax.device_put((data[:, :-1], data[:, 1:]), place.batch)
  params = jax.jit(model.init)(jax.random.key(1), x)['params']
  tx = optax.adam(1e-3)
  state = jax.device_put({'params': params, 'opt': tx.init(params)}, place.replicated)

  def loss_fn(params, x, y):
    logits, _ = model.apply({'params': params}, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  @functools.partial(jax.jit, donate_argnums=(0,),
                     out_shardings=(place.replicated, place.replicated))
  def train_step(state, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(state['params'], x, y)
    updates, opt = tx.update(grads, state['opt'], state['params'])
    return {'params': optax.apply_updates(state['params'], updates), 'opt': opt}, loss

  step, compile_s = compile_timed(train_step, state, x, y)
  s, (state, loss) = timer(lambda st: step(st[0], x, y), (state, None), warmup=2, steps=steps)
  assert np.isfinite(float(loss)), loss
  s['tokens_per_s'] = B * T / s['median_s']
  s['compile_s'] = compile_s
  s['gflops'] = W1_FLOPS_PER_TOKEN * s['tokens_per_s'] / 1e9
  if peak_gflops:
    s['pct_of_peak'] = 100 * s['gflops'] / peak_gflops
  return s, state['params']


# ------------------------------------------------------------------------------------- W3


def make_sampler(place, steps, batch, temperature, matmul_dtype=None):
  """Jitted sampler ``(params, rng) -> tokens [batch, steps]`` for the W1 model, built as
  ``EventLMTask`` samples: the project's one-step function
  (``dsjax.models.language_models.event_lm_stepper``) and inverse-CDF draws
  (``dsjax.sampling.sample_categorical`` with one uniform per draw, all drawn before the scan).

  Outside the scan: the ``[vocab, 4H]`` table (embedding x first input kernel + bias), the second
  layer's input and recurrent kernels stacked into one ``[2H, 4H]`` kernel, and the uniforms.
  Per step: a table row, the first layer's recurrent matmul, one ``[batch, 2H] x [2H, 4H]`` matmul
  for the second layer, the output layer and a search of the CDF. ``matmul_dtype=jnp.bfloat16``
  rounds the matmul inputs (float32 accumulation).
  """

  def sample(params, rng):
    step_fn = event_lm_stepper(params, compute_dtype=matmul_dtype)
    uniforms = place.constrain(jax.random.uniform(rng, (steps, batch)), place.batch_axis1)

    def step(carry, u):
      carry, tok = carry
      logits, carry = step_fn(carry, tok)
      tok = sampling.sample_categorical(None, logits, temperature, u=u)
      return (carry, tok), tok

    zeros = place.constrain(jnp.zeros((batch, H), jnp.float32))
    init = (((zeros, zeros), (zeros, zeros)), place.constrain(jnp.zeros((batch,), jnp.int32)))
    _, toks = jax.lax.scan(step, init, uniforms)
    return toks.T

  return jax.jit(sample)


def make_module_sampler(place, model, steps, batch, temperature):
  """The plain way: ``model.apply`` on one step inside ``lax.scan`` (for comparison)."""

  def sample(params, rng):
    uniforms = place.constrain(jax.random.uniform(rng, (steps, batch)), place.batch_axis1)

    def step(carry, u):
      carry, tok = carry
      logits, carry = model.apply({'params': params}, tok[:, None], carry)
      tok = sampling.sample_categorical(None, logits[:, 0], temperature, u=u)
      return (carry, tok), tok

    init = (place.constrain(rnn.LSTMStack((H, H)).initial_carry(batch)),
            place.constrain(jnp.zeros((batch,), jnp.int32)))
    _, toks = jax.lax.scan(step, init, uniforms)
    return toks.T

  return jax.jit(sample)


def w3(timer, place, reps, params, module_too):
  out = {}
  params = jax.device_put(params, place.replicated)
  variants = [('table', make_sampler(place, ST, SB, 1.0)),
              ('table_bf16', make_sampler(place, ST, SB, 1.0, jnp.bfloat16))]
  if module_too:
    variants.append(('module', make_module_sampler(place, EventLM(), ST, SB, 1.0)))
  for name, sampler in variants:
    rng = jax.random.key(3)
    fn, compile_s = compile_timed(sampler, params, rng)
    toks = block(fn(params, rng))
    assert toks.shape == (SB, ST) and int(toks.min()) >= 0 and int(toks.max()) < V
    s, _ = timer(lambda st: (fn(params, rng), None), (None, None), warmup=1, steps=reps)
    s['events_per_s'] = SB * ST / s['median_s']
    s['compile_s'] = compile_s
    s['gflop'] = matmul_flops(sampler, params, rng) / 1e9
    out[name] = s
  return out


# ------------------------------------------------------------------------------------- W2


class Generator(nn.Module):
  """noise ``[batch, time, Z]`` + t/T -> LSTM -> linear -> sigmoid: ``[batch, time, pitch]``."""
  impl: str = 'custom_vjp'
  unroll: int = 1

  @nn.compact
  def __call__(self, z):
    t = jnp.broadcast_to((jnp.arange(GT, dtype=z.dtype) / GT)[None, :, None], z.shape[:2] + (1,))
    y, _ = rnn.LSTM(GH, impl=self.impl, init_scheme='uniform', unroll=self.unroll)(
        jnp.concatenate([z, t], -1))
    return jax.nn.sigmoid(nn.Dense(P)(y))


class Critic(nn.Module):
  """LSTM over the frames ``[batch, time, pitch]`` -> linear on the last state: ``[batch]``."""
  impl: str = 'custom_vjp'
  unroll: int = 1

  @nn.compact
  def __call__(self, x):
    _, (h, _) = rnn.LSTM(GH, impl=self.impl, init_scheme='uniform', unroll=self.unroll)(x)
    return nn.Dense(1)(h)[:, 0]


def build_w2(place, critic_impl='custom_vjp', gen_impl='custom_vjp', unroll=1, separate=False):
  """The W2 steps: ``(critic_step(state, real), gen_step(state), state, real)``, jitted (state
  donated)."""
  G, D = Generator(gen_impl, unroll), Critic(critic_impl, unroll)
  k = jax.random.split(jax.random.key(4), 4)
  real = jax.device_put((jax.random.uniform(k[0], (GB, GT, P)) < 0.1).astype(jnp.float32),
                        place.batch)
  g_params = jax.jit(G.init)(k[1], jnp.zeros((GB, GT, Z)))['params']
  d_params = jax.jit(D.init)(k[2], jnp.zeros((GB, GT, P)))['params']
  tx = optax.adam(1e-4, b1=0.5, b2=0.9)
  state = jax.device_put({'g': g_params, 'd': d_params, 'g_opt': tx.init(g_params),
                          'd_opt': tx.init(d_params), 'step': jnp.zeros((), jnp.int32)},
                         place.replicated)
  key = k[3]

  def critic(dp, x):
    return D.apply({'params': dp}, x)

  def critic_loss(dp, real, fake, rng):
    # The project's WGAN-GP loss (dsjax.models.gan_losses, as dsjax.tasks.gan uses it): real and
    # fake scored in one pass over the joined batch unless ``separate``; eps per example.
    loss, _ = gan_losses.wgan_gp_critic_loss(lambda x: critic(dp, x), real, fake, rng,
                                             gp_weight=10.0, separate=separate)
    return loss

  @functools.partial(jax.jit, donate_argnums=(0,),
                     out_shardings=(place.replicated, place.replicated))
  def critic_step(state, real):
    kz, ke = jax.random.split(jax.random.fold_in(key, state['step']))
    z = place.constrain(jax.random.normal(kz, (GB, GT, Z)))
    fake = jax.lax.stop_gradient(G.apply({'params': state['g']}, z))
    loss, grads = jax.value_and_grad(critic_loss)(state['d'], real, fake, ke)
    updates, d_opt = tx.update(grads, state['d_opt'], state['d'])
    return dict(state, d=optax.apply_updates(state['d'], updates), d_opt=d_opt,
                step=state['step'] + 1), loss

  @functools.partial(jax.jit, donate_argnums=(0,),
                     out_shardings=(place.replicated, place.replicated))
  def gen_step(state):
    z = place.constrain(
        jax.random.normal(jax.random.fold_in(key, state['step'] + 10 ** 6), (GB, GT, Z)))
    loss, grads = jax.value_and_grad(
        lambda gp: gan_losses.wasserstein_generator_loss(
            critic(state['d'], G.apply({'params': gp}, z))))(state['g'])
    updates, g_opt = tx.update(grads, state['g_opt'], state['g'])
    return dict(state, g=optax.apply_updates(state['g'], updates), g_opt=g_opt,
                step=state['step'] + 1), loss

  return critic_step, gen_step, state, real


def w2(timer, place, steps, critic_impl, gen_impl, unroll=1, separate=False):
  critic_step, gen_step, state, real = build_w2(place, critic_impl, gen_impl, unroll, separate)
  # matmul FLOPs per step, from the jaxpr (scan bodies counted per step, dead code removed)
  c_flops, g_flops = matmul_flops(critic_step, state, real), matmul_flops(gen_step, state)
  c_step, c_compile = compile_timed(critic_step, state, real)
  g_step, g_compile = compile_timed(gen_step, state)
  c, (state, loss) = timer(lambda st: c_step(st[0], real), (state, None), warmup=2, steps=steps)
  assert np.isfinite(float(loss)), loss
  g, (state, loss) = timer(lambda st: g_step(st[0]), (state, None), warmup=2, steps=steps)
  assert np.isfinite(float(loss)), loss
  c['compile_s'], g['compile_s'] = c_compile, g_compile
  c['gflop'], g['gflop'] = c_flops / 1e9, g_flops / 1e9
  return {'critic_ms': c['median_s'] * 1e3, 'gen_ms': g['median_s'] * 1e3, 'critic': c, 'gen': g,
          'critic_impl': critic_impl, 'gen_impl': gen_impl}


# ------------------------------------------------------------------------------------- main


def _peak_share(timing, peak):
  """Adds achieved GFLOP/s, % of ``peak`` and the time at ``peak`` (``floor_ms``) to a timing
  that has ``gflop`` (per timed call) and ``median_s``."""
  timing['gflops'] = timing['gflop'] / timing['median_s']
  timing['pct_of_peak'] = 100 * timing['gflops'] / peak
  timing['floor_ms'] = 1e3 * timing['gflop'] / peak


def matmul_peak_gflops(reps=10):
  """Measured fp32 2048^2 matmul GFLOP/s of jax on this machine (median), as peak.py does."""
  a = jnp.asarray(np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32))
  f = jax.jit(jnp.dot)
  for _ in range(3):
    f(a, a).block_until_ready()
  ts = []
  for _ in range(reps):
    t0 = time.perf_counter()
    f(a, a).block_until_ready()
    ts.append(time.perf_counter() - t0)
  return 2 * 2048 ** 3 / float(np.median(ts)) / 1e9


def main(args):
  timer = Timer(load_benchutil(args.benchutil))
  place = Placement(args.devices)
  res = {'framework': 'jax', 'version': jax.__version__, 'devices': args.devices,
         'cpus': os.cpu_count(), 'xla_flags': os.environ.get('XLA_FLAGS', ''),
         'glibc_tunables': os.environ.get('GLIBC_TUNABLES', '')}
  peak = args.peak_gflops
  if peak is None:
    peak = matmul_peak_gflops()
  res['peak_gflops'] = peak
  params = None
  if 'w1' in args.todo:
    r, params = w1(timer, place, args.w1_steps, args.impl, not args.no_fold_embedding, peak)
    print(f"[jax] W1: {r['tokens_per_s']:.0f} tok/s (median {r['median_s']:.3f}s/step, min "
          f"{r['min_s']:.3f}, max {r['max_s']:.3f}; {r['gflops']:.0f} GFLOP/s = "
          f"{r.get('pct_of_peak', float('nan')):.0f}% of {peak:.0f}; compile {r['compile_s']:.1f}s; "
          f"foreign {r['foreign_cores']})", flush=True)
    res['w1'] = r
  if 'w2' in args.todo:
    r = w2(timer, place, args.w2_steps, args.critic_impl, args.impl, args.w2_unroll,
           args.w2_separate)
    c, g = r['critic'], r['gen']
    print(f"[jax] W2: critic {r['critic_ms']:.1f} ms/step (min {c['min_s'] * 1e3:.1f}, max "
          f"{c['max_s'] * 1e3:.1f}), gen {r['gen_ms']:.1f} ms/step (min {g['min_s'] * 1e3:.1f}, "
          f"max {g['max_s'] * 1e3:.1f}); compile {c['compile_s']:.1f}s / {g['compile_s']:.1f}s; "
          f"foreign {c['foreign_cores']}/{g['foreign_cores']}", flush=True)
    for name, t in (('critic', c), ('gen', g)):
      _peak_share(t, peak)
      print(f"[jax] W2 {name}: {t['gflop']:.2f} GFLOP of matmuls a step: {t['floor_ms']:.0f} ms "
            f"at the {peak:.0f} GFLOP/s peak; measured {t['gflops']:.0f} GFLOP/s = "
            f"{t['pct_of_peak']:.0f}% of peak", flush=True)
    res['w2'] = r
  if 'w3' in args.todo:
    if params is None:
      params = jax.jit(EventLM().init)(jax.random.key(1), jnp.zeros((SB, 1), jnp.int32))['params']
    r = w3(timer, place, args.w3_reps, params, args.w3_module)
    for name, s in r.items():
      _peak_share(s, peak)
      print(f"[jax] W3 ({name}): {s['events_per_s']:.0f} events/s (median {s['median_s']:.3f}s per "
            f"16x1024, min {s['min_s']:.3f}, max {s['max_s']:.3f}; {s['gflops']:.0f} GFLOP/s = "
            f"{s['pct_of_peak']:.0f}% of peak; compile {s['compile_s']:.1f}s; "
            f"foreign {s['foreign_cores']})", flush=True)
    res['w3'] = r
  timed = ([res['w1']] if 'w1' in res else []) + (
      [res['w2']['critic'], res['w2']['gen']] if 'w2' in res else []) + (
      list(res['w3'].values()) if 'w3' in res else [])
  summary = {
      'framework': 'jax', 'version': jax.__version__, 'devices': args.devices,
      'w1_tokens_per_s': round(res['w1']['tokens_per_s'], 1) if 'w1' in res else None,
      'w1_pct_of_peak': round(res['w1'].get('pct_of_peak', 0), 1) if 'w1' in res else None,
      'w1_compile_s': round(res['w1']['compile_s'], 2) if 'w1' in res else None,
      'w2_critic_ms': round(res['w2']['critic_ms'], 2) if 'w2' in res else None,
      'w2_gen_ms': round(res['w2']['gen_ms'], 2) if 'w2' in res else None,
      'w2_pct_of_peak': [round(res['w2']['critic']['pct_of_peak'], 1),
                         round(res['w2']['gen']['pct_of_peak'], 1)] if 'w2' in res else None,
      'w2_floor_ms': [round(res['w2']['critic']['floor_ms'], 1),
                      round(res['w2']['gen']['floor_ms'], 1)] if 'w2' in res else None,
      'w2_compile_s': [round(res['w2']['critic']['compile_s'], 2),
                       round(res['w2']['gen']['compile_s'], 2)] if 'w2' in res else None,
      'w3_events_per_s': round(res['w3']['table']['events_per_s'], 1) if 'w3' in res else None,
      'w3_compile_s': round(res['w3']['table']['compile_s'], 2) if 'w3' in res else None,
      'w3_pct_of_peak': round(res['w3']['table']['pct_of_peak'], 1) if 'w3' in res else None,
      'w3_bf16_events_per_s': round(res['w3']['table_bf16']['events_per_s'], 1)
                              if 'w3' in res else None,
      'peak_gflops': round(peak, 1) if peak else None,
      'foreign_cores_max': max(s['foreign_cores'] for s in timed) if timed else None,
      'detail': res,
  }
  print('SUMMARY ' + json.dumps(summary))


if __name__ == '__main__':
  main(ARGS)
