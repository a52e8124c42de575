"""What ``launch.visualize`` runs, without its flags (importable beside other commands):
``run_cells``, ``run_tsne_keys``, ``run_tsne_events``, ``run_code_schedule``, each writing a PNG
and a JSON of its numbers and returning ``(png path, info)``. See ``launch/visualize.py``."""

from __future__ import annotations

import json
import os

from launch import cli

DEFAULT_MAX_STEPS = 600


def _restore(workdir, step=None, best=False):
  from dsjax.train.loop import restore_for_inference
  if not workdir:
    raise cli.UsageError('--workdir is required for this picture')
  return restore_for_inference(workdir, step, best=best)


def _out_dir(out, workdir) -> str:
  out = out or (os.path.join(workdir, 'visualize') if workdir else 'visualize')
  os.makedirs(out, exist_ok=True)
  return out


def _safe(name: str) -> str:
  return ''.join(c if c.isalnum() or c in '-_.' else '_' for c in str(name)).strip('_')[:60]


def _write(out, stem, image, info) -> str:
  from dsjax import viz
  path = os.path.join(out, f'{stem}.png')
  viz.save_png(image, path)
  with open(os.path.join(out, f'{stem}.json'), 'w') as f:
    json.dump(info, f, indent=1)
  return path


# ---------------------------------------------------------------------------------------------
# cells


def _load_piece(path, config):
  from dsjax.data import keys as keys_lib
  from dsjax.data import midi_io
  if not os.path.isfile(path):
    raise cli.UsageError(f'--midi={path}: no such file')
  piece = midi_io.load_midi(path)
  if bool(config.data.transpose_to_c):
    piece, _ = keys_lib.transpose_to_c(piece)
  return piece


def recurrent_inputs(config, task, params, midi=None):
  """What the run's LSTM reads for one piece: ``dict(name, items, states, logits_check)``.

  ``items``: the encoded piece (event ids ``[T + 1]`` or frames ``[T, keys]``); ``states``: the
  per-layer ``(h, c)`` of :func:`dsjax.visualize.lstm_states` over the ``T`` steps it reads;
  ``inputs``: the model's own input arguments, for checks (``EventLM.apply(params, *inputs)``).
  A run whose model is not one of these LMs is a UsageError.
  """
  import numpy as np
  from dsjax import visualize as vis
  if config.task not in ('event_lm', 'pianoroll_lm'):
    raise cli.UsageError(
        f'--what=cells reads the LSTM of an event LM (configs/baseline_lstm.py, hist_rnn.py) or '
        f'a piano-roll LM (configs/pianoroll_*.py); this is a {config.task!r} run')
  if midi is not None:
    piece = _load_piece(midi, config)
    name = os.path.splitext(os.path.basename(midi))[0]
  else:
    split = str(config.data.eval_splits[0]) if len(config.data.eval_splits) else None
    seqs = task.eval_sets.get(split) if split else None
    if seqs is None or not len(seqs):
      raise cli.UsageError('--midi is needed: the run has no held-out pieces')
    piece, name = None, f'{seqs.names[0]} (held-out {split} piece 0)'
  if config.task == 'event_lm':
    from dsjax.data import events as events_lib
    ids = (np.asarray(events_lib.encode_events(piece, task.vocab), np.int32) if piece is not None
           else np.asarray(seqs[0], np.int32))
    if len(ids) < 2:
      raise cli.UsageError(f'{midi or name}: fewer than 2 events after encoding')
    inputs, targets = ids[None, :-1], ids[None, 1:]
    batch = {'inputs': inputs, 'targets': targets, 'mask': np.ones(targets.shape, np.float32)}
    if task.cond.kind == 'hist':
      batch['condition'] = task.cond.of_events(ids)[None].astype(np.float32)
    cond = task.batch_condition(batch)
    cond = None if cond is None else np.asarray(cond, np.float32)
    states = vis.lstm_states(params['rnn'], tokens=inputs[0], embedding=params['embed'][
        'embedding'], x=None if cond is None else cond[0])
    return dict(name=name, items=ids, states=states, model_inputs=(inputs, cond))
  from dsjax.data import pianoroll as roll_lib
  roll = (roll_lib.encode_pianoroll(piece, task.roll_cfg) if piece is not None
          else np.asarray(seqs[0]))
  roll = np.asarray(roll, np.float32)
  if roll.ndim != 2 or len(roll) < 2:
    raise cli.UsageError(f'{midi or name}: fewer than 2 frames after encoding')
  states = vis.lstm_states(params['rnn'], x=roll)
  return dict(name=name, items=roll, states=states, model_inputs=(roll[None],))


def run_cells(workdir, *, midi=None, cells=16, cell=None, layer=None, state='h', start=0,
              length=None, step=None, best=False, out=None, pick='variable'):
  """Draws the cell activations; returns ``(png path, info dict)``."""
  import numpy as np
  from dsjax import visualize as vis
  if midi is not None and not os.path.isfile(midi):
    raise cli.UsageError(f'--midi={midi}: no such file')
  cli.positive_int('cells', cells)
  cli.positive_int('start', start, allow_zero=True)
  cli.positive_int('length', length)
  config, trainer, train_state, ckpt_step = _restore(workdir, step, best)
  task = trainer.task
  params = task.eval_params(train_state)
  got = recurrent_inputs(config, task, params, midi)
  hs = [h if state == 'h' else c for h, c in got['states']]
  sizes = [a.shape[1] for a in hs]
  steps = hs[0].shape[0]
  if start >= steps:
    raise cli.UsageError(f'--start={start}: the piece has {steps} steps')
  stop = min(steps, start + (length or DEFAULT_MAX_STEPS))
  names = vis.cell_names(sizes)
  acts = np.concatenate(hs, axis=1)
  offsets = np.concatenate([[0], np.cumsum(sizes)])
  if layer is not None and not 1 <= layer <= len(sizes):
    raise cli.UsageError(f'--layer={layer}: the LSTM has layers 1..{len(sizes)}')
  lo, hi = (0, offsets[-1]) if layer is None else (offsets[layer - 1], offsets[layer])
  if pick not in ('variable', 'features'):
    raise cli.UsageError(f'--pick={pick}: expected variable or features')
  if cell is not None:
    lay = layer or len(sizes)
    if not 0 <= cell < sizes[lay - 1]:
      raise cli.UsageError(f'--cell={cell}: layer {lay} has cells 0..{sizes[lay - 1] - 1}')
    chosen = np.array([offsets[lay - 1] + cell])
  elif pick == 'variable':
    chosen = lo + vis.most_variable_cells(acts[start:stop, lo:hi], cells)
  window = slice(start, stop)
  if config.task == 'event_lm':
    ids = got['items'][:-1]
    roll = vis.event_roll(ids, task.vocab)
    features = vis.event_features(ids, task.vocab)
    options = dict(lowest_pitch=0)
    extra = dict(kinds=vis.event_kinds(ids, task.vocab)[window],
                 seconds=vis.event_seconds(ids, task.vocab)[window] -
                 vis.event_seconds(ids, task.vocab)[start],
                 time_label=f'event (from event {start})')
  else:
    roll = got['items']
    options = trainer.sampler.figure_options() if trainer.sampler else {}
    features = vis.roll_features(roll, options.get('lowest_pitch', 0),
                                 frames_per_beat=options.get('frames_per_beat'))
    extra = {}
    if start:
      extra['time_label'] = f'bar (frames from {start})'
  features = {k: v[window] for k, v in features.items()}
  correlations = vis.feature_correlations(acts[window], features)
  best_cells = vis.best_cells(correlations, names)
  title = f'{got["name"]}: steps {start}..{stop - 1} ({config.task}, step {ckpt_step})'
  what = {'h': 'cell output h', 'c': 'memory cell c'}[state]
  if cell is None and pick == 'features':
    rows = vis.best_cells({f: r[lo:hi] for f, r in correlations.items()}, names[lo:hi])
    chosen = np.array([lo + i for _, _, i, _ in rows])
    extra.update(lines=True, overlays=[features[f] for f, _, _, _ in rows], line_titles=[
        f'{f} (grey): {n}, {"eta" if f in vis.CATEGORICAL_FEATURES else "r"} = {v:+.2f}'
        for f, n, _, v in rows])
  elif cell is None:
    extra['heat_title'] = f'the {len(chosen)} most variable cells: {what}'
  image = vis.cells_figure(roll[window], acts[window][:, chosen], [names[i] for i in chosen],
                           title=title, state=state, **extra, **options)
  info = dict(workdir=workdir, checkpoint_step=int(ckpt_step), piece=got['name'],
              steps=[int(start), int(stop)], state=state, layer_sizes=sizes,
              drawn=[{'cell': names[i], 'std': float(acts[window, i].std()),
                      **{f: float(r[i]) for f, r in correlations.items()}} for i in chosen],
              best_cell_per_feature=[dict(feature=f, cell=n, value=v)
                                     for f, n, _, v in best_cells])
  stem = f'cells_{_safe(got["name"].split(" (")[0])}_{state}'
  if cell is not None:
    stem += f'_{_safe(names[chosen[0]].replace(" #", "-"))}'
  elif pick == 'features':
    stem += '_features'
  path = _write(_out_dir(out, workdir), stem, image, info)
  return path, info


# ---------------------------------------------------------------------------------------------
# t-SNE of keys


def run_tsne_keys(workdir=None, *, source=None, max_pieces=None, sharpen=0.03, seed=0,
                  perplexity=30.0, out=None):
  """t-SNE of the corpus' pitch-class histograms by key; returns ``(png path, info)``."""
  import numpy as np
  from dsjax import visualize as vis
  from dsjax.data import cache
  from dsjax.data import keys as keys_lib
  cli.finite_float('sharpen', sharpen, low=0, low_open=True)
  cli.finite_float('perplexity', perplexity, low=0, low_open=True)
  cli.positive_int('max_pieces', max_pieces)
  opts, cache_dir = {}, None
  if workdir and source is None:
    from dsjax.tasks import datasets
    from dsjax.train.loop import load_config
    config = load_config(workdir)
    source, opts = str(config.data.source), datasets.source_options(config)
    cache_dir = str(config.data.cache_dir) or None
  source = source or 'bach'
  if max_pieces:
    opts['max_pieces'] = int(max_pieces)
  pieces = cache.load_notes(source, cache_dir, **opts).pieces
  hists, keys, names = [], [], []
  for piece in pieces:
    notes = piece.notes[~piece.notes['is_drum']]
    if len(notes) == 0:
      continue
    try:
      key = keys_lib.estimate_key(piece)
    except ValueError:
      continue
    hists.append(keys_lib.pitch_class_histogram(piece))
    keys.append(key)
    names.append(piece.name)
  if len(hists) < 4:
    raise cli.UsageError(f'--source={source}: {len(hists)} pieces with notes; t-SNE needs 4')
  hists = np.stack(hists)
  panels, info = [], dict(source=source, pieces=len(hists), perplexity=perplexity, seed=seed,
                          keys={}, neighbours={})
  for key in keys:
    info['keys'][key.name] = info['keys'].get(key.name, 0) + 1
  for label, x in (('pitch-class histograms (note counts)', hists),
                   (f'sharpened: softmax(h / {sharpen:g})',
                    keys_lib.sharpen_histogram(hists, sharpen))):
    points = vis.tsne(x, seed=seed, perplexity=perplexity)
    panels.append((label, points))
    info['neighbours'][label] = {'tsne_map': vis.key_neighbours(points, keys),
                                 'histogram_space': vis.key_neighbours(x, keys)}
    info['nearest_key_cluster'] = info.get('nearest_key_cluster', {})
    info['nearest_key_cluster'][label] = [
        dict(key=a.name, nearest=b.name, relation=r) for a, b, r in vis.nearest_keys(points, keys)]
  image = vis.tsne_keys_figure(panels, keys, title=f't-SNE of {len(hists)} pieces of '
                               f'{source!s}, coloured by Krumhansl-Schmuckler key')
  path = _write(_out_dir(out, workdir), f'tsne_keys_{_safe(os.path.basename(str(source)))}',
                image, info)
  return path, info


# ---------------------------------------------------------------------------------------------
# t-SNE of skip-gram events


def run_tsne_events(workdir, *, table='embed', include_unseen=False, seed=0, perplexity=30.0,
                    step=None, out=None):
  """t-SNE of a skip-gram run's event embedding; returns ``(png path, info)``."""
  import numpy as np
  from dsjax import visualize as vis
  cli.finite_float('perplexity', perplexity, low=0, low_open=True)
  config, trainer, state, ckpt_step = _restore(workdir, step)
  if config.task != 'skipgram':
    raise cli.UsageError(f'--what=tsne_events needs a skip-gram run (configs/skipgram.py); '
                         f'{workdir} is a {config.task!r} run')
  task = trainer.task
  name = 'embed' if table == 'embed' or bool(config.model.tied) else 'context'
  vectors = np.asarray(state['params'][name]['embedding'], np.float64)
  ids = np.arange(task.vocab.size) if include_unseen else np.flatnonzero(task.counts > 0)
  unit = vectors[ids] / np.maximum(np.linalg.norm(vectors[ids], axis=1, keepdims=True), 1e-12)
  points = vis.tsne(unit, seed=seed, perplexity=perplexity)
  info = dict(workdir=workdir, checkpoint_step=int(ckpt_step), table=name, events=len(ids),
              tsne_map=vis.event_neighbours(points, ids, task.vocab),
              cosine_space=vis.event_neighbours(unit, ids, task.vocab))
  image = vis.tsne_events_figure(points, ids, task.vocab, title=(
      f't-SNE of the {name} table of {workdir} (step {ckpt_step}): {len(ids)} events'
      f'{"" if include_unseen else " that occur in the training data"}'))
  return _write(_out_dir(out, workdir), f'tsne_events_{name}', image, info), info


# ---------------------------------------------------------------------------------------------
# GAN code schedule


def gan_codes_and_samples(task, sampler, state, rng, num: int, length: int, schedule: str):
  """``(codes [num, code_steps, channels], samples uint8 [num, length, pitch])``: the code images
  a GAN's generator reads for ``rng`` and the rolls it makes of them (``sampler.sample``, as
  ``launch.generate`` draws them)."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  samples = sampler.sample(state, rng, num, length, schedule=schedule)
  song = None
  if schedule == 'song':      # the real windows GANSampler.generate_raw draws for this rng
    song = jnp.asarray(task.real_windows(jax.random.fold_in(rng, 1), num, length), jnp.float32)
  codes = jax.jit(task.codes, static_argnums=(1, 2, 3))(rng, num, length, schedule, song)
  return np.asarray(codes), np.asarray(samples)


def run_code_schedule(workdir, *, schedule=None, num=2, length=None, seed=0, step=None,
                      best=False, out=None):
  """A GAN's code schedules above the rolls they drive; returns ``(png path, info)``."""
  import jax
  import numpy as np
  from dsjax import visualize as vis
  from dsjax.models import gan as gan_models
  cli.positive_int('num', num)
  cli.positive_int('length', length)
  if schedule is not None and schedule not in gan_models.SCHEDULES:
    raise cli.UsageError(f'--schedule={schedule}: expected one of '
                         f'{", ".join(gan_models.SCHEDULES)}')
  config, trainer, state, ckpt_step = _restore(workdir, step, best)
  if config.task != 'gan':
    raise cli.UsageError(f'--what=code_schedule needs a GAN run (configs/iwgan_lstm.py, '
                         f'dcrnn.py, ...); {workdir} is a {config.task!r} run')
  task, sampler = trainer.task, trainer.sampler
  schedule = str(schedule or config.sample.schedule)
  length = int(length or config.sample.length)
  rng = jax.random.fold_in(jax.random.key(seed), ckpt_step)     # as launch.generate --seed
  codes, samples = gan_codes_and_samples(task, sampler, state, rng, num, length, schedule)
  per_code = max(1, -(-length // codes.shape[1]))
  image = vis.code_schedule_figure(
      list(codes), list(samples), frames_per_code=per_code, code_dim=task.hp.code_dim,
      titles=[f'sample {i}' for i in range(num)], schedule=schedule,
      **sampler.figure_options())
  info = dict(workdir=workdir, checkpoint_step=int(ckpt_step), schedule=schedule, seed=seed,
              length=length, code_shape=list(codes.shape), frames_per_code=per_code,
              code_dim=int(task.hp.code_dim),
              code_change_per_step=float(np.abs(np.diff(codes[..., :task.hp.code_dim],
                                                        axis=1)).mean())
              if codes.shape[1] > 1 else 0.0,
              frame_change_per_step=float(np.abs(np.diff(samples.astype(np.float32),
                                                         axis=1)).sum(-1).mean()))
  return _write(_out_dir(out, workdir), f'code_schedule_{schedule}', image, info), info
