"""Speed of a whole dsjax GAN training step (WGAN-GP) against PyTorch, measured in one sitting.

  .venv/bin/python bench/gan_step.py [--config=configs/iwgan_lstm.py:plain] [--repeats 9]
      [--steps 3] [--budget-s 120] [--torch-python PATH] [--no-split]
  .venv/bin/python bench/gan_step.py --config=configs/iwgan_lstm.py:full,plain   # W2's widths

The default config is ``iwgan_lstm:plain``, the laptop size with the pure GAN generator that
torch_ref.py's W2 has a counterpart of. ``iwgan_lstm``'s default variant (since 2026-12-06
``melody_lm``: a feedback generator with a melody head and a teacher-forced NLL term) has none:
for such a config only the dsjax figures print, with the reason.

dsjax side: the real training step of the config, as ``launch.train`` runs it:
``dsjax.train.loop.Trainer(config, ...)._step``, the jitted ``train_step_fn(GANTask.train_step)``
(state donated, ``param_norm`` / ``update_norm`` added). One call is one train step:
``gan.n_critic`` critic steps (each: fresh codes, a fake batch from the generator without its
gradient, straight-through binarized fakes, the pool of past fakes, the WGAN-GP loss with its
gradient penalty taken through the critic's LSTM, i.e. a second-order gradient through the
``lax.scan``, Adam) and ``gan.g_steps`` generator steps (through the just updated critic, Adam).
The batch is one real batch of the config's data, reused; the step counter advances. Compile
time (the first call) is reported apart.

PyTorch side: ``../shared/bench/torch_ref.py``'s own W2 code, imported by path in a worker
process under the interpreter that has torch (``torch_ref.w2``: its ``Gen``, ``Critic``, critic
step with the gradient penalty by ``create_graph=True`` double backward through ``nn.LSTM``,
generator step, Adam 1e-4), with its module-level shapes set to the dsjax config's (``GB`` =
critic batch, ``GT`` = window, ``P`` = pitches, ``Z`` = code dims + step-noise dims, ``GH`` = LSTM
width), so both sides do the same network work: generator input ``Z`` + time indicator -> LSTM
``GH`` -> dense -> sigmoid ``P``; critic LSTM ``GH`` over the frames -> linear on the last state;
the penalty at per-example interpolates. A PyTorch train step is ``n_critic x critic + g_steps x
generator``. ``iwgan_lstm:plain``: critic batch 16, window 64, 88 pitches, code 32 + step noise
32, LSTMs 128; ``:full,plain``: critic batch 32, code 64 + 32, LSTMs 256 (torch_ref's own W2 has
128 pitches and 64 noise dims; here both sides use the config's). Differences left in:
dsjax's step also keeps the pool of past fakes, binarizes the fakes (straight through), holds its
step noise for 4 steps (torch_ref: fresh normal noise per step), scores real and fake in one
joined critic pass (torch_ref: two passes, the same FLOPs) and computes its logged metrics and
norms: elementwise work on a few MB next to the LSTMs.

Timing: each repeat times one block per side, in alternating order (dsjax first in even repeats),
so that load from other processes falls on both. A dsjax block is one untimed train step, then
``--steps`` timed ones, and (unless ``--no-split``) the same for the config with ``n_critic=1``;
a torch block is one ``torch_ref.w2(--steps)`` call (fresh models, its own warm-up: 3 untimed
critic and 2 generator steps, then ``--steps`` timed ones of each). Each block gives the median
of its timed steps; the table gives the median over the repeats. The untimed first step matters:
after the other side's block (or 2.5 s idle) dsjax's first step was 10 to 25% slower. ``foreign``
is how many cores other processes used while each side's timed steps ran
(``benchutil.ForeignLoad``; near 0 on a quiet machine).

Critic and generator parts of the dsjax step are derived by difference:
``critic = (T(n_critic) - T(1)) / (n_critic - 1)``, ``generator = (T(1) - critic) / g_steps``
(so the generator part also holds the step's fixed costs: metrics, norms, the call). PyTorch's
parts are measured directly.

Convention: ``ratio = torch_ms / dsjax_ms``; above 1 means dsjax is faster. The table gives the
ratio of the medians and, for the train step, the range of the per-repeat ratios. Both sides use
all the cores this process may run on (``--threads``, default ``os.sched_getaffinity``, for
``torch.set_num_threads``; XLA uses every core). dsjax re-executes itself with the huge-page
malloc tunable, as the launchers do; the torch worker runs without it, as torch_ref.py does
(``--torch-huge-pages``: with it; that did not change torch's times, but made the dsjax steps
between the torch calls slower and more variable).

A loaded machine hurts PyTorch far more: with another process on one of 2 cores, torch_ref's
critic step with 2 threads took 2 to 60x its quiet time (probably its OpenMP threads waiting on
each other), dsjax's step about 1.5x; with two such processes one torch critic step took 25 to
36 s against 74 ms. Compare figures with ``foreign`` near 0 only. To bound a run, the repeats
stop once ``--budget-s`` seconds of timing are spent (after at least 3), and a torch_ref.w2 call
still running then (and at least 30 s old) is stopped, its worker killed. Last stdout line:
``SUMMARY {json}``.

Without PyTorch (set-up, once: ``python -m venv /work/torch-ref && /work/torch-ref/bin/pip
install torch==2.13.0 numpy``, see ``../shared/bench/README.md``) only the dsjax figures print.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_BENCH = os.path.join(ROOT, '..', 'shared', 'bench')
TORCH_PYTHONS = (os.path.join(ROOT, '..', 'torch-ref', 'bin', 'python'), sys.executable)
RESULT = 'RESULT '


def _parse_args(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--config', default='configs/iwgan_lstm.py:plain',
                  help='a GAN config: configs/NAME.py[:variant] or NAME[:variant]')
  ap.add_argument('--repeats', type=int, default=9, help='timed repeats of each side')
  ap.add_argument('--budget-s', type=float, default=120,
                  help='stop repeating (after at least 3 repeats) once the timed repeats have '
                       'taken this long: a loaded machine slows them many times over')
  ap.add_argument('--warmup', type=int, default=2, help='dsjax steps after the compiling one')
  ap.add_argument('--steps', type=int, default=3,
                  help='timed steps in each block: dsjax train steps after an untimed one; '
                       'critic and generator steps of each torch_ref.w2 call')
  ap.add_argument('--torch-python', default=None,
                  help='interpreter with torch (default: the first of ../torch-ref/bin/python, '
                       'this one, that imports torch)')
  ap.add_argument('--threads', type=int, default=len(os.sched_getaffinity(0)),
                  help='torch.set_num_threads (default: the cores this process may use)')
  ap.add_argument('--torch-huge-pages', action='store_true',
                  help="let the torch worker inherit dsjax's huge-page malloc tunable")
  ap.add_argument('--no-split', action='store_true',
                  help='skip the n_critic=1 step (no dsjax critic / generator parts)')
  ap.add_argument('--shared-bench', default=SHARED_BENCH,
                  help='folder of torch_ref.py and benchutil.py')
  ap.add_argument('--torch-worker', default=None, help=argparse.SUPPRESS)
  args = ap.parse_args(argv)
  if args.repeats < 1 or args.steps < 1 or args.warmup < 0:
    ap.error('--repeats and --steps must be >= 1, --warmup >= 0')
  return args


def load_module(name: str, path: str):
  """Imports the file ``path`` as module ``name`` (the shared bench folder is no package)."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path} not found (the shared bench folder: --shared-bench)')
  spec = importlib.util.spec_from_file_location(name, path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


# ------------------------------------------------------------------------- the PyTorch worker


def torch_worker(args):
  """Runs in the torch interpreter: sets torch_ref's W2 shapes, then answers each line ``N`` on
  stdin with one ``torch_ref.w2(N)`` call's result as ``RESULT {json}``."""
  shapes = json.loads(args.torch_worker)
  torch_ref = load_module('torch_ref', os.path.join(args.shared_bench, 'torch_ref.py'))
  import torch
  warnings.filterwarnings('ignore', message='TF32 acceleration')
  torch.set_num_threads(args.threads)
  for k, v in shapes.items():   # the module-level shapes its Gen, Critic and w2 read
    if not hasattr(torch_ref, k):
      raise AttributeError(f'torch_ref.py has no shape {k}')
    setattr(torch_ref, k, int(v))
  print(RESULT + json.dumps({'version': torch.__version__, 'threads': torch.get_num_threads()}),
        flush=True)
  for line in sys.stdin:
    r = torch_ref.w2(int(line), mkldnn_critic=True)
    print(RESULT + json.dumps({
        'critic_s': r['critic']['median_s'], 'gen_s': r['gen']['median_s'],
        'critic_foreign': r['critic']['foreign_cores'], 'gen_foreign': r['gen']['foreign_cores'],
        'critic_wall_s': r['critic']['median_s'] * r['critic']['n'],
        'gen_wall_s': r['gen']['median_s'] * r['gen']['n'],
        'critic_mkldnn': r['critic_mkldnn']}), flush=True)


class TorchPeer:
  """The worker process: ``call(steps)`` runs one ``torch_ref.w2`` and returns its result."""

  def __init__(self, python: str, shapes: dict, args):
    cmd = [python, os.path.abspath(__file__), '--torch-worker', json.dumps(shapes),
           '--threads', str(args.threads), '--shared-bench', args.shared_bench]
    self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                                 env=os.environ if args.torch_huge_pages else torch_env(os.environ))
    self.pending = b''
    self.info = self._read(timeout=120)
    if self.info is None:
      raise RuntimeError('the torch worker did not start within 120 s')

  def _read(self, timeout: float | None = None) -> dict | None:
    """The worker's next result, or None (worker stopped) if none came within ``timeout`` s."""
    deadline = None if timeout is None else time.perf_counter() + timeout
    fd = self.proc.stdout.fileno()
    while True:
      while b'\n' not in self.pending:
        if deadline is not None:
          left = deadline - time.perf_counter()
          if left <= 0 or not select.select([fd], [], [], left)[0]:
            self.proc.kill()
            self.proc.wait()
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
          raise RuntimeError(f'the torch worker stopped (exit {self.proc.wait()})')
        self.pending += chunk
      line, self.pending = self.pending.split(b'\n', 1)
      text = line.decode()
      if text.startswith(RESULT):
        return json.loads(text[len(RESULT):])

  def call(self, steps: int, timeout: float) -> dict | None:
    """One ``torch_ref.w2(steps)``; None (and the worker stopped) if it took over ``timeout`` s."""
    self.proc.stdin.write(f'{steps}\n'.encode())
    return self._read(timeout)

  def close(self):
    if self.proc.poll() is None:
      self.proc.stdin.close()
      self.proc.wait(timeout=60)


def torch_env(environ) -> dict:
  """The worker's environment: this one without the huge-page malloc tunable that dsjax's
  re-execution adds, as torch_ref.py runs by itself (the module doc says why)."""
  from dsjax.runtime import HUGE_PAGES_TUNABLE
  env = dict(environ)
  parts = [t for t in env.get('GLIBC_TUNABLES', '').split(':') if t and t != HUGE_PAGES_TUNABLE]
  if parts:
    env['GLIBC_TUNABLES'] = ':'.join(parts)
  else:
    env.pop('GLIBC_TUNABLES', None)
  return env


def find_torch_python(explicit: str | None) -> tuple[str | None, str]:
  """The interpreter that imports torch, or ``(None, why)``."""
  candidates = [explicit] if explicit else list(TORCH_PYTHONS)
  tried = []
  for py in candidates:
    if not py or not os.path.exists(py):
      tried.append(f'{py}: missing')
      continue
    ok = subprocess.run([py, '-c', 'import torch'], capture_output=True).returncode == 0
    if ok:
      return py, ''
    tried.append(f'{py}: no torch')
  return None, '; '.join(tried)


# ------------------------------------------------------------------------------------ dsjax


def config_spec(arg: str) -> str:
  """``configs/NAME.py[:variant]`` or ``NAME[:variant]`` -> ``NAME[:variant]``."""
  path, sep, variant = arg.partition(':')
  name = os.path.basename(path)
  name = name[:-3] if name.endswith('.py') else name
  return name + sep + variant


def torch_shapes(config, hp) -> dict:
  """torch_ref's W2 shapes for the dsjax GAN ``config`` (``hp``: its ``GANSettings``), or
  ``ValueError`` where torch_ref's networks are not the same as the config's."""
  g, d = config.model.generator, config.model.critic
  problems = []
  if str(g.kind) != 'lstm' or len(g.hidden) != 1 or str(g.decision) != 'dense':
    problems.append('generator: one LSTM layer and a dense decision layer')
  if (not bool(g.time_indicator) or bool(g.get('melody', False))
      or bool(g.get('feedback', False))):
    problems.append('generator: the time indicator, no melody head, no feedback')
  if str(d.kind) != 'lstm' or len(d.hidden) != 1 or str(d.readout) != 'last':
    problems.append("critic: one LSTM layer with the 'last' readout")
  if bool(d.motion) or int(d.pitch_conv) or bool(d.minibatch_std):
    problems.append('critic: no motion, pitch_conv or minibatch_std inputs')
  if tuple(g.hidden) != tuple(d.hidden):
    problems.append('generator and critic LSTMs of one width')
  if hp.loss != 'wgan_gp':
    problems.append('the wgan_gp loss')
  if problems:
    raise ValueError('torch_ref.py builds only the W2 networks; this config differs: needs '
                     + '; '.join(problems))
  return {'GB': hp.critic_batch, 'GT': hp.window, 'P': hp.pitches,
          'Z': hp.code_dim + hp.step_noise, 'GH': int(g.hidden[0])}


class DsjaxStep:
  """The loop's jitted train step of ``config`` with its state and one real batch."""

  def __init__(self, config, foreign_load):
    import jax
    import jax.numpy as jnp
    from dsjax.train import loop
    from dsjax.train import sharding as shd
    self.jax, self.foreign_load = jax, foreign_load
    self.trainer = loop.Trainer(config, tempfile.mkdtemp(prefix='gan_step_'))  # writes nothing
    self.hp = self.trainer.task.hp
    local = next(self.trainer.task.train_data(0, 1))
    self.batch = shd.shard_batch(local, self.trainer.mesh)
    self.state = self.trainer.fresh_state()
    self.jnp, self.i = jnp, 0
    self.metrics = None
    t0 = time.perf_counter()
    self._call()
    self.compile_s = time.perf_counter() - t0   # trace, compile and the first step
    self.times, self.foreign = [], []

  def _call(self, step=None):
    step = self.jnp.asarray(self.i, self.jnp.int32) if step is None else step
    self.state, self.metrics = self.trainer._step(self.state, self.batch, step)
    self.jax.block_until_ready((self.state, self.metrics))
    self.i += 1

  def warmup(self, n: int):
    for _ in range(n):
      self._call()

  def timed_block(self, steps: int) -> float:
    """One untimed step, then ``steps`` timed ones; records and returns their median (s)."""
    self._call()
    times = []
    for _ in range(steps):
      step = self.jax.block_until_ready(self.jnp.asarray(self.i, self.jnp.int32))
      with self.foreign_load() as fl:
        t0 = time.perf_counter()
        self._call(step)
        dt = time.perf_counter() - t0
      times.append(dt)
      self.foreign.append((fl.foreign_cores, dt))
    self.times.append(statistics.median(times))
    return self.times[-1]

  def check(self):
    loss = float(self.metrics['loss'])
    if loss != loss:
      raise FloatingPointError('the dsjax GAN step gave a NaN loss')


def weighted_foreign(pairs) -> float:
  """Time-weighted mean of ``(foreign_cores, seconds)`` pairs."""
  total = sum(s for _, s in pairs)
  return sum(f * s for f, s in pairs) / total if total else 0.0


def describe(config, hp) -> str:
  g, d = config.model.generator, config.model.critic
  extras = [name for name in ('feedback', 'melody') if bool(g.get(name, False))]
  if float(config.gan.get('mle_weight', 0.0)):
    extras.append(f'{float(config.gan.mle_weight):g} x NLL term')
  return (f'{hp.n_critic} critic + {hp.g_steps} generator steps per train step; critic batch '
          f'{hp.critic_batch}, window {hp.window}, {hp.pitches} pitches; generator code '
          f'{hp.code_dim} + step noise {hp.step_noise} + time -> LSTM {tuple(g.hidden)} -> '
          f'{g.decision} -> {g.output}' + (f' ({", ".join(extras)})' if extras else '')
          + f'; critic {d.kind} {tuple(d.hidden)} readout {d.readout}')


def interleave(args, full, one, peer) -> list[dict]:
  """The timed repeats, dsjax and PyTorch in alternating order; returns the torch results."""
  torch_runs = []
  t_start = time.perf_counter()
  for r in range(args.repeats):
    if (r >= 3 or (peer is not None and peer.proc.poll() is not None)) and (
        time.perf_counter() - t_start > args.budget_s):
      print(f'[budget] {args.budget_s:.0f} s of timing spent: stopping after {r} repeats',
            flush=True)
      break
    sides = ['dsjax', 'torch'] if r % 2 == 0 else ['torch', 'dsjax']
    calls = len(torch_runs)
    for side in sides:
      if side == 'dsjax':
        full.timed_block(args.steps)
        if one is not None:
          one.timed_block(args.steps)
      elif peer is not None and peer.proc.poll() is None:
        left = max(args.budget_s - (time.perf_counter() - t_start), 30.0)
        result = peer.call(args.steps, timeout=left)
        if result is None:
          print(f'[budget] a torch_ref.w2 call took over {left:.0f} s (a loaded machine?): '
                f'stopped it; torch figures from {len(torch_runs)} calls', flush=True)
        else:
          torch_runs.append(result)
    line = f'[repeat {r + 1}/{args.repeats}] dsjax {full.times[-1] * 1e3:.1f} ms'
    if one is not None:
      line += f' (n_critic=1: {one.times[-1] * 1e3:.1f} ms)'
    if len(torch_runs) > calls:
      t = torch_runs[-1]
      line += (f'; torch critic {t["critic_s"] * 1e3:.1f} ms, generator '
               f'{t["gen_s"] * 1e3:.1f} ms')
    print(line, flush=True)
  return torch_runs


def main(args):
  import jax
  import configs
  bu = load_module('benchutil', os.path.join(args.shared_bench, 'benchutil.py'))
  spec = config_spec(args.config)
  config = configs.load_config(spec)
  if str(config.task) != 'gan':
    raise ValueError(f'--config={args.config}: task {config.task!r}, not a GAN')

  print(f'[setup] {spec}: building and compiling the dsjax step ...', flush=True)
  full = DsjaxStep(config, bu.ForeignLoad)
  hp = full.hp
  print(f'[setup] {describe(config, hp)}', flush=True)
  print(f'[setup] dsjax compile + first step: {full.compile_s:.1f} s', flush=True)
  one = None
  if not args.no_split and hp.n_critic > 1:
    overrides = {'gan.n_critic': 1}
    if hp.critic_batches == 'split':
      overrides['data.batch_size'] = hp.critic_batch
    one = DsjaxStep(configs.load_config(spec, **overrides), bu.ForeignLoad)
    print(f'[setup] dsjax n_critic=1 step compile + first step: {one.compile_s:.1f} s',
          flush=True)

  peer, torch_info, why = None, None, ''
  try:
    shapes = torch_shapes(config, hp)
  except ValueError as e:
    shapes, why = None, str(e)
  if shapes is not None:
    python, why = find_torch_python(args.torch_python)
    if python:
      peer = TorchPeer(python, shapes, args)
      torch_info = dict(peer.info, python=python, shapes=shapes)
      print(f'[setup] torch {peer.info["version"]} ({python}), {peer.info["threads"]} threads, '
            f'torch_ref W2 shapes {shapes}', flush=True)
  if peer is None:
    print(f'[setup] no PyTorch peer: {why}', flush=True)

  full.warmup(args.warmup)
  if one is not None:
    one.warmup(args.warmup)
  try:
    torch_runs = interleave(args, full, one, peer)
  finally:
    if peer is not None:
      peer.close()
  full.check()


  # ---- per train step: medians, ratios ----
  n_c, n_g = hp.n_critic, hp.g_steps
  med = lambda xs: statistics.median(xs) * 1e3 if xs else None  # noqa: E731
  ds = {'train': med(full.times)}
  if one is not None:  # derived from the medians (module doc)
    ds['critic'] = (med(full.times) - med(one.times)) / (n_c - 1)
    ds['gen'] = (med(one.times) - ds['critic']) / n_g
  tc, per_repeat = {}, None
  if torch_runs:
    train = [n_c * t['critic_s'] + n_g * t['gen_s'] for t in torch_runs]
    tc = {'train': med(train), 'critic': med([t['critic_s'] for t in torch_runs]),
          'gen': med([t['gen_s'] for t in torch_runs])}
    per_repeat = sorted(t / d for t, d in zip(train, full.times))

  print(f'\n{spec}: {describe(config, hp)}')
  print(f'ms per step, medians of {len(full.times)} interleaved repeats; ratio = torch / dsjax '
        f'(above 1: dsjax faster); the train step\'s per-repeat ratios in brackets')
  print(f'{"":26s} {"dsjax ms":>9s} {"torch ms":>9s} {"ratio":>7s}')
  labels = {'train': f'train step ({n_c}c + {n_g}g)', 'critic': 'critic step',
            'gen': 'generator step'}
  table = {}
  for key, label in labels.items():
    dm, tm = ds.get(key), tc.get(key)
    if dm is None and tm is None:
      continue
    entry = {'dsjax_ms': dm, 'torch_ms': tm}
    line = (f'{label:26s} ' + (f'{dm:9.1f}' if dm is not None else f'{"-":>9s}') + ' '
            + (f'{tm:9.1f}' if tm is not None else f'{"-":>9s}'))
    if dm and tm:
      entry['ratio'] = tm / dm
      line += f' {tm / dm:6.2f}x'
      if key == 'train':
        entry['ratio_range'] = [per_repeat[0], per_repeat[-1]]
        line += f'  ({per_repeat[0]:.2f} to {per_repeat[-1]:.2f})'
    if key != 'train' and one is not None:
      line += '  (dsjax: by difference)'
    print(line)
    table[key] = entry
  ds_foreign = weighted_foreign(full.foreign + (one.foreign if one else []))
  foreign = f'foreign cores while timed: dsjax {ds_foreign:.2f}'
  t_foreign = None
  if torch_runs:
    t_foreign = weighted_foreign([(t['critic_foreign'], t['critic_wall_s']) for t in torch_runs]
                                 + [(t['gen_foreign'], t['gen_wall_s']) for t in torch_runs])
    foreign += f', torch {t_foreign:.2f}'
  print(foreign + f' (of {os.cpu_count()} cores; at 0 the machine was quiet); '
        f'dsjax compile {full.compile_s:.1f} s'
        + (f' (+ {one.compile_s:.1f} s for n_critic=1)' if one else ''))
  summary = {
      'config': spec, 'n_critic': n_c, 'g_steps': n_g, 'jax': jax.__version__,
      'torch': torch_info, 'no_torch_reason': why or None, 'repeats': args.repeats,
      'threads': args.threads, 'cpus': os.cpu_count(),
      'glibc_tunables': os.environ.get('GLIBC_TUNABLES', ''),
      'compile_s': full.compile_s, 'timed_repeats': len(full.times), 'table': table,
      'foreign_cores': {'dsjax': round(ds_foreign, 2),
                        'torch': round(t_foreign, 2) if t_foreign is not None else None},
      'critic_mkldnn': torch_runs[-1]['critic_mkldnn'] if torch_runs else None,
  }
  print('SUMMARY ' + json.dumps(summary))


if __name__ == '__main__':
  ARGS = _parse_args()
  if ARGS.torch_worker is not None:
    torch_worker(ARGS)
  else:
    if ROOT not in sys.path:
      sys.path.insert(0, ROOT)
    from dsjax import runtime  # huge pages for XLA's buffers, as the launchers (dsjax/runtime.py)
    runtime.reexec_with_huge_pages()
    main(ARGS)
