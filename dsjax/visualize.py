"""The research log's visualisations, as arrays and matplotlib figures (``launch.visualize``).

* Cell activations (log 10/10): :func:`lstm_states` re-runs a run's
  :class:`~dsjax.nn.recurrent.LSTMStack` with its restored parameters, one step at a time, and
  returns every layer's output ``h`` and memory ``c`` at every step (the model itself is not
  changed; :func:`dsjax.nn.recurrent.lstm_stack_stepper` is the step);
  :func:`most_variable_cells` picks the cells to show; :func:`cells_figure` draws them as a heat
  map (or as lines) under the piece's labelled piano roll, on the roll's time axis.
  :func:`roll_features`, :func:`event_features` and
  :func:`feature_correlations` say which cell follows which property of the music (polyphony,
  register, onsets, position in the bar, time since the last onset, event type).
* t-SNE (log 10/16): :func:`tsne` (scikit-learn, fixed seed); :func:`tsne_keys_figure` draws pieces
  by their pitch-class histograms, coloured by estimated key (hue = place on the circle of fifths,
  a minor key in its relative major's hue, majors as discs and minors as triangles);
  :func:`tsne_events_figure` draws a skip-gram run's event embeddings, labelled by event and
  coloured by event type. :func:`key_neighbours` and :func:`event_neighbours` count what a point's
  nearest neighbours are, against chance.
* A GAN's code schedule (log 11/14-11/15): :func:`code_schedule_figure` draws the per-step code the
  generator reads as a heat map above the piano roll it drives.

Every figure comes back as RGB uint8 ``[height, width, 3]`` (:func:`dsjax.viz.save_png` writes it)::

  states = lstm_states(params['rnn'], tokens=ids, embedding=params['embed']['embedding'])
  acts = np.concatenate([h for h, _ in states], axis=1)       # [time, cells]
  image = cells_figure(roll, acts[:, cells], [f'cell {i}' for i in cells], title='...')
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from dsjax import viz

EVENT_KINDS = ('note-on', 'note-off', 'shift', 'velocity')
_KIND_COLOURS = ('#1f5fbf', '#c0392b', '#2e8b57', '#8e44ad')
_KIND_MAPS = ('Blues', 'Reds', 'Greens', 'Purples')


# ---------------------------------------------------------------------------------------------
# Recurrent states.


def lstm_states(rnn_params, *, tokens=None, embedding=None, x=None) -> list[tuple[np.ndarray,
                                                                                  np.ndarray]]:
  """Every layer's ``(h [time, H_l], c [time, H_l])`` of an :class:`LSTMStack` run over one
  sequence from the zero state, as the model computes it in inference (no dropout).

  ``rnn_params``: the stack's parameters (``{'layer_0': ..., ...}``). The first layer reads
  ``[embedding[tokens], x]`` (``tokens [time]`` with ``embedding [vocab, E]``; ``x [time, F]``,
  e.g. piano-roll frames or a per-step condition), as :class:`~dsjax.nn.recurrent.LSTM` does. Row
  ``t`` is the state after reading item ``t``; the last layer's ``h`` is what the model's output
  layer reads.
  """
  import jax
  import jax.numpy as jnp
  from dsjax.nn.recurrent import lstm_stack_stepper
  if tokens is None and x is None:
    raise ValueError('lstm_states: give tokens (with embedding) and/or x')
  step = lstm_stack_stepper(rnn_params, embedding=embedding)
  sizes = [int(rnn_params[f'layer_{i}']['recurrent_kernel'].shape[0])
           for i in range(len(rnn_params))]
  carry = tuple((jnp.zeros((1, s), jnp.float32),) * 2 for s in sizes)
  toks = None if tokens is None else jnp.asarray(tokens, jnp.int32)[:, None]
  xs = None if x is None else jnp.asarray(x, jnp.float32)[:, None]

  @jax.jit
  def run(carry, toks, xs):
    def body(carry, inp):
      tok, xt = inp
      _, carry = step(carry, tokens=tok, x=xt)
      return carry, carry
    return jax.lax.scan(body, carry, (toks, xs))[1]

  states = run(carry, toks, xs)
  return [(np.asarray(h[:, 0]), np.asarray(c[:, 0])) for h, c in states]


def cell_names(sizes: Sequence[int]) -> list[str]:
  """``'L1 #7'`` (layer 1, cell 7; layers counted from 1) for every cell of layers ``sizes``, in
  the order of the layers' outputs side by side."""
  return [f'L{layer + 1} #{i}' for layer, n in enumerate(sizes) for i in range(n)]


def most_variable_cells(acts: np.ndarray, k: int) -> np.ndarray:
  """Indices of the ``k`` columns of ``acts [time, cells]`` with the largest standard deviation
  over time, largest first (ties: lower index first)."""
  acts = np.asarray(acts, np.float64)
  if acts.ndim != 2 or not acts.shape[1]:
    raise ValueError(f'acts: expected [time, cells], got shape {acts.shape}')
  std = acts.std(axis=0)
  return np.lexsort((np.arange(len(std)), -std))[:min(int(k), len(std))]


# ---------------------------------------------------------------------------------------------
# Event sequences as pictures and features.


def event_kinds(ids, vocab) -> np.ndarray:
  """``int [time]``: 0 note-on, 1 note-off, 2 time shift, 3 velocity (:data:`EVENT_KINDS`)."""
  ids = np.asarray(ids, np.int64)
  return np.searchsorted(np.array([vocab.note_off_offset, vocab.shift_offset,
                                   vocab.velocity_offset]), ids, side='right')


def event_seconds(ids, vocab) -> np.ndarray:
  """``float [time]``: the piece's clock (seconds) after each event (time shifts move it)."""
  ids = np.asarray(ids, np.int64)
  shift = np.where(event_kinds(ids, vocab) == 2, ids - vocab.shift_offset + 1, 0)
  return np.cumsum(shift) * float(vocab.shift_ms) / 1000.0


def event_roll(ids, vocab) -> np.ndarray:
  """``uint8 [time, 128]``: the keys sounding after each event (note-on sets a key, note-off
  clears it), one column per event: the piano roll on the event LM's own time axis."""
  ids = np.asarray(ids, np.int64)
  roll = np.zeros((len(ids), 128), np.uint8)
  active = np.zeros(128, np.uint8)
  kinds = event_kinds(ids, vocab)
  for t, (i, kind) in enumerate(zip(ids, kinds)):
    if kind == 0:
      active[i - vocab.note_on_offset] = 1
    elif kind == 1:
      active[i - vocab.note_off_offset] = 0
    roll[t] = active
  return roll


def _since(flags: np.ndarray, clock: np.ndarray) -> np.ndarray:
  """``clock[t] - clock[last t' <= t with flags[t']]`` (NaN before the first flag)."""
  idx = np.where(flags, np.arange(len(flags)), -1)
  last = np.maximum.accumulate(idx) if len(idx) else idx
  out = np.where(last >= 0, clock - clock[np.maximum(last, 0)], np.nan)
  return out.astype(np.float64)


def roll_features(roll, lowest_pitch: int = 0, *, frames_per_beat: float | None = None,
                  beats_per_bar: int = 4) -> dict[str, np.ndarray]:
  """Properties of a roll ``[time, keys]`` at every frame that a cell might follow:
  ``polyphony`` (keys sounding), ``mean_pitch`` (MIDI, NaN when silent), ``onsets`` (keys that
  start), ``frames_since_onset`` and, on a beat grid, ``bar_position`` (the frame's place in the
  bar, 0 .. frames per bar - 1: a category)."""
  r = np.asarray(roll) > 0
  if r.ndim == 3:
    r = r[..., 0]
  poly = r.sum(1).astype(np.float64)
  pitches = lowest_pitch + np.arange(r.shape[1])
  with np.errstate(invalid='ignore'):
    mean_pitch = np.where(poly > 0, (r * pitches).sum(1) / np.maximum(poly, 1), np.nan)
  prev = np.concatenate([np.zeros((1, r.shape[1]), bool), r[:-1]])
  onsets = (r & ~prev).sum(1).astype(np.float64)
  out = {'polyphony': poly, 'mean_pitch': mean_pitch, 'onsets': onsets,
         'frames_since_onset': _since(onsets > 0, np.arange(len(r), dtype=np.float64))}
  if frames_per_beat:
    per_bar = int(round(float(frames_per_beat) * beats_per_bar))
    if per_bar > 1:
      out['bar_position'] = (np.arange(len(r)) % per_bar).astype(np.float64)
  return out


def event_features(ids, vocab) -> dict[str, np.ndarray]:
  """Properties of an event sequence after each event: ``polyphony``, ``mean_pitch`` (of the
  sounding keys), ``seconds_since_note_on``, and the event's type (``is_note_on``,
  ``is_note_off``, ``is_shift``, ``is_velocity``: 0/1)."""
  roll = event_roll(ids, vocab)
  f = roll_features(roll)
  kinds = event_kinds(ids, vocab)
  out = {'polyphony': f['polyphony'], 'mean_pitch': f['mean_pitch'],
         'seconds_since_note_on': _since(kinds == 0, event_seconds(ids, vocab))}
  for k, name in enumerate(('is_note_on', 'is_note_off', 'is_shift', 'is_velocity')):
    out[name] = (kinds == k).astype(np.float64)
  return out


CATEGORICAL_FEATURES = ('bar_position',)


def feature_correlations(acts: np.ndarray, features: dict[str, np.ndarray]
                         ) -> dict[str, np.ndarray]:
  """``{feature: [cells]}``: how well each cell's activation follows each feature over time.

  A numeric feature gives the Pearson correlation ``r`` (over the steps where it is defined; 0
  for a constant cell or feature); a categorical one (:data:`CATEGORICAL_FEATURES`) the
  correlation ratio ``eta`` in [0, 1] (the share of the cell's standard deviation explained by
  the category's means, square-rooted). A feature that takes a value other than its most common
  one at fewer than 3 steps (say a velocity event only at the first step) is left out."""
  acts = np.asarray(acts, np.float64)
  out = {}
  for name, f in features.items():
    f = np.asarray(f, np.float64)
    if len(f) != len(acts):
      raise ValueError(f'feature {name!r} has {len(f)} steps, the activations {len(acts)}')
    ok = np.isfinite(f)
    a, v = acts[ok], f[ok]
    if len(v) == 0 or len(v) - np.unique(v, return_counts=True)[1].max() < 3:
      continue
    a = a - a.mean(0)
    total = (a ** 2).sum(0)
    if name in CATEGORICAL_FEATURES:
      between = np.zeros(acts.shape[1])
      for c in np.unique(v):
        m = v == c
        between += m.sum() * a[m].mean(0) ** 2
      with np.errstate(invalid='ignore', divide='ignore'):
        out[name] = np.where(total > 0, np.sqrt(between / np.where(total > 0, total, 1)), 0.0)
    else:
      v = v - v.mean()
      denom = np.sqrt(total * (v ** 2).sum())
      with np.errstate(invalid='ignore', divide='ignore'):
        out[name] = np.where(denom > 0, (a * v[:, None]).sum(0) / np.where(denom > 0, denom, 1),
                             0.0)
  return out


def best_cells(correlations: dict[str, np.ndarray], names: Sequence[str]) -> list[tuple]:
  """``[(feature, cell name, cell index, r or eta)]``: the cell that follows each feature best
  (largest ``|r|``)."""
  out = []
  for feature, r in correlations.items():
    i = int(np.argmax(np.abs(r)))
    out.append((feature, names[i], i, float(r[i])))
  return out


# ---------------------------------------------------------------------------------------------
# A labelled piano roll with strips above and below it.


def _strip_layout(strips, title_px: int = 14, axis_px: int = 30, gap: int = 6):
  return [(s, (title_px if s.get('title') else 0), (axis_px if s.get('axis') else gap))
          for s in strips]


def roll_with_strips(roll, *, title: str, above: Sequence[dict] = (), below: Sequence[dict] = (),
                     right_px: int = 0, top_px: int = 0, **roll_options):
  """:func:`dsjax.viz.draw_pianorolls` of one roll, with extra panels ("strips") on its time axis.

  Each strip is a dict: ``height`` (pixels), ``draw(ax, frames)`` (draws into the panel; the x
  limits are then set to the roll's ``0 .. frames``), optional ``title`` and ``axis`` (True: the
  strip keeps the roll's time ticks and labels under it). ``right_px`` widens the figure on the
  right (for colour bars, which a strip's ``draw`` may add with ``ax.figure``), ``top_px`` adds
  room above everything (for marks on the roll's top edge). Returns the
  matplotlib Figure; ``figure.axes[0]`` is the roll.
  """
  fig = viz.draw_pianorolls([roll], sample_titles=[title], **roll_options)
  roll_ax = fig.axes[0]
  dpi = fig.dpi
  width, height = (float(v) * dpi for v in fig.get_size_inches())
  box = roll_ax.get_position()
  left, panel_w = box.x0 * width, box.width * width
  roll_top, panel_h = (1 - box.y1) * height, box.height * height      # pixels from the top
  above_l, below_l = _strip_layout(above), _strip_layout(below)
  above_px = top_px + sum(t + s['height'] + b for s, t, b in above_l)
  below_px = sum(t + s['height'] + b for s, t, b in below_l)
  new_w, new_h = width + right_px, height + above_px + below_px
  fig.set_size_inches(new_w / dpi, new_h / dpi)

  def place(ax, top, h):
    ax.set_position((left / new_w, 1 - (top + h) / new_h, panel_w / new_w, h / new_h))

  place(roll_ax, roll_top + above_px, panel_h)
  frames = roll_ax.get_xlim()[1]
  inside = [(t, label.get_text()) for t, label in zip(roll_ax.get_xticks(),
                                                     roll_ax.get_xticklabels())
            if -1e-9 <= t <= frames + 1e-9]
  ticks, labels = [t for t, _ in inside], [label for _, label in inside]
  roll_ax.set_xticks(ticks, labels)   # a locator's ticks may lie past the end
  roll_ax.set_xlim(0, frames)
  xlabel = roll_ax.get_xlabel()

  def add(strip, top):
    ax = fig.add_axes((0, 0, 1, 1))
    place(ax, top, strip['height'])
    strip['draw'](ax, frames)
    if strip.get('title'):
      ax.set_title(strip['title'], fontsize=8, pad=2)
    if strip.get('axis'):
      ax.set_xticks(ticks, labels)
      ax.set_xlabel(xlabel, fontsize=7, labelpad=1)
    else:
      ax.set_xticks(ticks, [''] * len(ticks))
    ax.set_xlim(0, frames)
    ax.tick_params(labelsize=7, length=2, pad=1)
    return ax

  top = 8.0 + top_px
  for strip, t, b in above_l:
    add(strip, top + t)
    top += t + strip['height'] + b
  top = roll_top + above_px + panel_h + 34
  for strip, t, b in below_l:
    add(strip, top + t)
    top += t + strip['height'] + b
  return fig


def _colour_bar(ax, image, label: str) -> None:
  """A thin colour bar right of strip ``ax``."""
  fig = ax.figure
  box = ax.get_position()
  width = fig.get_size_inches()[0] * fig.dpi
  cax = fig.add_axes((box.x1 + 8 / width, box.y0, 9 / width, box.height))
  bar = fig.colorbar(image, cax=cax)
  bar.ax.tick_params(labelsize=6, length=2, pad=1)
  bar.set_label(label, fontsize=6, labelpad=2)


def cells_figure(roll, acts: np.ndarray, labels: Sequence[str], *, title: str,
                 state: str = 'h', kinds: np.ndarray | None = None, seconds=None,
                 time_label: str | None = None, lines: bool | None = None,
                 line_titles: Sequence[str] | None = None,
                 overlays: Sequence[np.ndarray | None] | None = None,
                 heat_title: str | None = None, **roll_options) -> np.ndarray:
  """Cell activations under a labelled piano roll, one time axis: RGB uint8 ``[H, W, 3]``.

  ``roll [time, keys]`` (``roll_options``: :func:`dsjax.viz.pianoroll_figure`'s
  ``lowest_pitch``, ``frames_per_beat`` ...); ``acts [time, K]`` with a label per column, drawn
  as a heat map (one row per cell, top row first) or, with ``lines`` (default: for one column),
  as one line panel per cell, titled ``line_titles``, with ``overlays[k] [time]`` (a feature the
  cell follows; NaN = undefined) drawn in grey behind it, scaled to the cell's mean and spread.
  ``state`` names what is drawn ('h': the cells' outputs, in (-1, 1); 'c': the memory cells,
  unbounded). ``kinds [time]`` (event LMs): a row coloured by event type above the cells;
  ``seconds [time]``: the piece's clock, marked on the roll's top edge (event LMs, whose steps
  are events); ``time_label`` renames the time axis.
  """
  acts = np.asarray(acts, np.float32)
  roll = np.asarray(roll)
  if acts.ndim != 2 or acts.shape[0] != roll.shape[0]:
    raise ValueError(f'acts {acts.shape}: expected [time={roll.shape[0]}, cells]')
  if len(labels) != acts.shape[1]:
    raise ValueError(f'{len(labels)} labels for {acts.shape[1]} cells')
  lines = acts.shape[1] == 1 if lines is None else lines
  frames = roll.shape[0]
  what = {'h': 'cell output h', 'c': 'memory cell c'}[state]
  span = max(1e-6, float(np.abs(acts).max()))
  if state == 'h':
    span = min(1.0, span)
  t = np.arange(frames)

  def draw_kinds(ax, _):
    from matplotlib.colors import ListedColormap
    ax.imshow(kinds[None], aspect='auto', interpolation='nearest', extent=(0, frames, 0, 1),
              cmap=ListedColormap(_KIND_COLOURS), vmin=-0.5, vmax=3.5)
    ax.set_yticks([])
    handles = [_patch(c, n) for c, n in zip(_KIND_COLOURS, EVENT_KINDS)]
    ax.legend(handles=handles, ncol=4, fontsize=6, loc='lower right', bbox_to_anchor=(1, 1),
              frameon=False, handlelength=1, borderaxespad=0, columnspacing=1)

  def draw_heat(ax, _):
    image = ax.imshow(acts.T, aspect='auto', interpolation='nearest', cmap='RdBu_r',
                      vmin=-span, vmax=span, extent=(0, frames, acts.shape[1], 0))
    ax.set_yticks(np.arange(acts.shape[1]) + 0.5, labels)
    ax.tick_params(axis='y', labelsize=max(4, min(7, int(220 / max(1, len(labels))))))
    _colour_bar(ax, image, what)

  def draw_line(ax, _, k):
    a = acts[:, k]
    lo, hi = float(a.min()), float(a.max())
    pad = 0.08 * max(hi - lo, 1e-6)
    if overlays is not None and overlays[k] is not None:
      f = np.asarray(overlays[k], np.float64)
      ok = np.isfinite(f)
      if ok.sum() > 1 and np.std(f[ok]) > 0:
        sign = np.sign(np.corrcoef(f[ok], a[ok])[0, 1]) or 1.0
        z = (f - f[ok].mean()) / f[ok].std() * sign
        ax.step(t + 0.5, a.mean() + z * a.std(), where='mid', color='#9a9a9a', lw=0.9)
    if lo < 0 < hi:
      ax.axhline(0, color='#cccccc', lw=0.5)
    ax.step(t + 0.5, a, where='mid', color='#c0392b', lw=1.0)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_ylabel(labels[k], fontsize=6, labelpad=1)

  below = []
  if kinds is not None:
    below.append(dict(height=10, draw=draw_kinds, title=None, axis=False))
  if lines:
    titles = list(line_titles or [f'{n}: {what} after each step' for n in labels])
    height = 120 if acts.shape[1] == 1 else 60
    for k in range(acts.shape[1]):
      below.append(dict(height=height, draw=lambda ax, f, k=k: draw_line(ax, f, k),
                        axis=k == acts.shape[1] - 1, title=titles[k]))
  else:
    below.append(dict(height=int(np.clip(12 * acts.shape[1], 60, 480)), draw=draw_heat,
                      axis=True, title=heat_title or f'{acts.shape[1]} cells: {what}'))
  fig = roll_with_strips(roll, title=title, below=below, right_px=0 if lines else 70,
                         top_px=0 if seconds is None else 14, **roll_options)
  if time_label:
    for ax in fig.axes:
      if ax.get_xlabel():
        ax.set_xlabel(time_label, fontsize=7, labelpad=1)
  if seconds is not None:
    _seconds_ticks(fig.axes[0], np.asarray(seconds, np.float64))
  return viz.figure_image(fig)


def _patch(colour, label):
  from matplotlib.patches import Patch
  return Patch(facecolor=colour, edgecolor='none', label=label)


def _seconds_ticks(ax, seconds: np.ndarray) -> None:
  """Marks every few seconds of the piece's clock on the top edge of ``ax`` (event steps)."""
  if not len(seconds) or seconds[-1] <= 0:
    return
  step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120) if seconds[-1] / s <= 12), 300)
  marks = np.arange(0.0, seconds[-1] + 1e-9, step)
  where = np.searchsorted(seconds, marks - 1e-9) + 0.5
  top = ax.secondary_xaxis('top')
  top.set_xticks(where, [f'{m:g} s' for m in marks])
  top.tick_params(labelsize=6, length=2, pad=0)


# ---------------------------------------------------------------------------------------------
# t-SNE.


def tsne(x: np.ndarray, *, seed: int = 0, perplexity: float = 30.0,
         metric: str = 'euclidean') -> np.ndarray:
  """2-D t-SNE of the rows of ``x [n, d]`` (scikit-learn, PCA start, fixed ``seed``): ``[n, 2]``.
  The perplexity is lowered to ``(n - 1) / 3`` for few points."""
  from sklearn.manifold import TSNE
  x = np.asarray(x, np.float64)
  if x.ndim != 2 or len(x) < 3:
    raise ValueError(f't-SNE needs at least 3 points [n, d], got shape {x.shape}')
  perplexity = float(min(perplexity, (len(x) - 1) / 3))
  return TSNE(n_components=2, perplexity=perplexity, init='pca', learning_rate='auto',
              metric=metric, random_state=int(seed)).fit_transform(x)


def fifths_position(key) -> int:
  """Place of a key's signature on the circle of fifths, 0 (C / a) .. 11 (F / d), sharps first:
  G / e = 1, D / b = 2 ...; a minor key sits with its relative major."""
  major_tonic = key.tonic if key.mode == 'major' else (key.tonic + 3) % 12
  return (major_tonic * 7) % 12


def key_colour(key):
  """The RGB colour of a key: its circle-of-fifths place as a hue."""
  import colorsys
  return colorsys.hsv_to_rgb(fifths_position(key) / 12.0, 0.85, 0.85)


def _nearest(points: np.ndarray, k: int) -> np.ndarray:
  """Indices ``[n, k]`` of each point's ``k`` nearest other points (Euclidean)."""
  d = ((points[:, None] - points[None]) ** 2).sum(-1)
  np.fill_diagonal(d, np.inf)
  return np.argsort(d, axis=1, kind='stable')[:, :k]


KEY_RELATIONS = ('same key', 'relative', 'parallel', 'fifth apart', 'other')


def key_relation(a, b) -> str:
  """How key ``b`` stands to key ``a``: one of :data:`KEY_RELATIONS` ('relative': the same
  signature in the other mode, C / a; 'parallel': the same tonic in the other mode; 'fifth apart':
  neighbouring signatures, of either mode)."""
  if a == b:
    return 'same key'
  fa, fb = fifths_position(a), fifths_position(b)
  if fa == fb:
    return 'relative'
  if a.tonic == b.tonic:
    return 'parallel'
  if (fa - fb) % 12 in (1, 11):
    return 'fifth apart'
  return 'other'


def key_neighbours(points: np.ndarray, keys: Sequence, k: int = 5) -> dict[str, dict[str, float]]:
  """``{relation: {'neighbours': share, 'chance': share}}``: how each point's ``k`` nearest
  points' keys relate to its own (:func:`key_relation`), against all pairs of distinct points."""
  n = len(keys)
  if n < 2:
    raise ValueError('key_neighbours: needs at least 2 points')
  nn = _nearest(np.asarray(points, np.float64), min(k, n - 1))
  near = [key_relation(keys[i], keys[j]) for i in range(n) for j in nn[i]]
  every = [key_relation(keys[i], keys[j]) for i in range(n) for j in range(n) if i != j]
  return {r: {'neighbours': near.count(r) / len(near), 'chance': every.count(r) / len(every)}
          for r in KEY_RELATIONS}


def nearest_keys(points: np.ndarray, keys: Sequence, min_pieces: int = 3) -> list[tuple]:
  """``[(key, nearest key, relation)]``: for each key of at least ``min_pieces`` points, the other
  such key whose centroid is closest to its centroid (clusters next to each other, which nearest
  points miss when each key forms its own tight cluster), and how the two keys relate
  (:func:`key_relation`)."""
  points = np.asarray(points, np.float64)
  names = sorted({k for k in keys if sum(kk == k for kk in keys) >= min_pieces},
                 key=lambda k: k.index)
  if len(names) < 2:
    return []
  centres = np.stack([points[[kk == k for kk in keys]].mean(0) for k in names])
  nn = _nearest(centres, 1)[:, 0]
  return [(a, names[j], key_relation(a, names[j])) for a, j in zip(names, nn)]


def _scatter_keys(ax, points, keys, title):
  order = sorted(set(keys), key=lambda key: (fifths_position(key), key.mode))
  handles = []
  for key in order:
    m = np.array([kk == key for kk in keys])
    marker = 'o' if key.mode == 'major' else '^'
    h = ax.scatter(points[m, 0], points[m, 1], s=16, marker=marker, color=key_colour(key),
                   edgecolors='black' if key.mode == 'minor' else 'none', linewidths=0.3,
                   label=f'{key.name} ({int(m.sum())})')
    handles.append(h)
  ax.set_title(title, fontsize=9)
  ax.set_xticks([])
  ax.set_yticks([])
  return handles


def tsne_keys_figure(panels: Sequence[tuple[str, np.ndarray]], keys: Sequence, *,
                     title: str) -> np.ndarray:
  """t-SNE maps of pieces side by side (``panels``: ``(title, points [n, 2])``), each piece
  coloured by its key (:func:`key_colour`; majors as discs, minors as triangles), with one legend
  of the keys (in circle-of-fifths order, with piece counts). RGB uint8."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  fig = Figure(figsize=(5.2 * len(panels) + 2.0, 5.6), dpi=100)
  FigureCanvasAgg(fig)
  axes = fig.subplots(1, len(panels), squeeze=False)[0]
  handles = []
  for ax, (name, points) in zip(axes, panels):
    handles = _scatter_keys(ax, np.asarray(points), keys, name)
  fig.legend(handles=handles, loc='center right', fontsize=7, ncol=1 + len(handles) // 25,
             title='estimated key (pieces)', title_fontsize=7, frameon=False)
  fig.suptitle(title, fontsize=10)
  fig.subplots_adjust(left=0.02, right=1 - 2.0 / fig.get_size_inches()[0], top=0.9, bottom=0.03,
                      wspace=0.05)
  return viz.figure_image(fig)


def event_short_name(event_id: int, vocab) -> str:
  """A point label: ``'C4'`` (note-on), ``'C4'`` (note-off, coloured apart), ``'30ms'`` (shift),
  ``'v64'`` (velocity)."""
  name = vocab.event_name(int(event_id)).strip('<>')
  kind = int(event_kinds([event_id], vocab)[0])
  if kind in (0, 1):
    return name.split()[0]
  if kind == 2:
    return name.split()[1]
  return 'v' + name.split()[1]


def event_neighbours(points: np.ndarray, ids: Sequence[int], vocab, k: int = 5) -> dict:
  """What the ``k`` nearest points of each event are: ``same_type`` (share of neighbours of the
  event's type, and its chance level over all pairs), ``note_on_pitch_gap`` (median semitones
  from a note-on to its nearest note-on, and the median over all note-on pairs) and
  ``on_off_pairs`` (share of note-ons whose note-off of the same pitch is among their ``k``
  neighbours)."""
  ids = np.asarray(ids, np.int64)
  kinds = event_kinds(ids, vocab)
  nn = _nearest(np.asarray(points, np.float64), min(k, len(ids) - 1))
  same = (kinds[nn] == kinds[:, None]).mean()
  counts = np.bincount(kinds, minlength=4).astype(np.float64)
  chance = float(((counts * (counts - 1)).sum()) / (len(ids) * (len(ids) - 1)))
  out = {'same_type': {'neighbours': float(same), 'chance': chance}}
  on = np.flatnonzero(kinds == 0)
  if len(on) >= 3:
    pitch = ids[on] - vocab.note_on_offset
    nn_on = _nearest(np.asarray(points, np.float64)[on], 1)[:, 0]
    gaps = np.abs(pitch - pitch[nn_on])
    pairs = np.abs(pitch[:, None] - pitch[None])[~np.eye(len(on), dtype=bool)]
    out['note_on_pitch_gap'] = {'nearest': float(np.median(gaps)),
                                'chance': float(np.median(pairs))}
    out['note_on_same_pitch_class'] = {'nearest': float(np.mean(gaps % 12 == 0)),
                                       'chance': float(np.mean(pairs % 12 == 0))}
  off_of = {int(i - vocab.note_off_offset): j for j, i in enumerate(ids) if kinds[j] == 1}
  with_off = [(j, off_of[int(ids[j] - vocab.note_on_offset)]) for j in on
              if int(ids[j] - vocab.note_on_offset) in off_of]
  if with_off:
    hits = [partner in nn[j] for j, partner in with_off]
    out['on_off_pairs'] = {'share': float(np.mean(hits)), 'pairs': len(with_off)}
  return out


def tsne_events_figure(points: np.ndarray, ids: Sequence[int], vocab, *, title: str
                       ) -> np.ndarray:
  """A skip-gram run's events on a t-SNE map: each point labelled (:func:`event_short_name`) and
  coloured by its type, darker for higher pitches, longer shifts, louder velocities. RGB uint8."""
  from matplotlib import colormaps
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  points = np.asarray(points, np.float64)
  ids = np.asarray(ids, np.int64)
  kinds = event_kinds(ids, vocab)
  fig = Figure(figsize=(13, 10.5), dpi=100)
  FigureCanvasAgg(fig)
  ax = fig.add_axes((0.02, 0.02, 0.96, 0.92))
  offsets = (vocab.note_on_offset, vocab.note_off_offset, vocab.shift_offset,
             vocab.velocity_offset)
  for kind, name in enumerate(EVENT_KINDS):
    m = kinds == kind
    if not m.any():
      continue
    value = (ids[m] - offsets[kind]).astype(np.float64)
    shade = 0.35 + 0.6 * (value - value.min()) / max(1.0, np.ptp(value))
    colours = colormaps[_KIND_MAPS[kind]](shade)
    ax.scatter(points[m, 0], points[m, 1], s=14, color=colours, label=f'{name} ({int(m.sum())})')
    for (x, y), i, c in zip(points[m], ids[m], colours):
      ax.annotate(event_short_name(i, vocab), (x, y), xytext=(2, 2), textcoords='offset points',
                  fontsize=5, color=c)
  ax.legend(loc='upper right', fontsize=8, markerscale=1.5,
            title='event type (darker: higher pitch, longer shift, louder)', title_fontsize=7)
  ax.set_xticks([])
  ax.set_yticks([])
  ax.set_title(title, fontsize=10)
  return viz.figure_image(fig)


# ---------------------------------------------------------------------------------------------
# GAN code schedules.


def code_schedule_figure(codes: Sequence[np.ndarray], rolls: Sequence[np.ndarray], *,
                         frames_per_code: int = 1, code_dim: int | None = None,
                         titles: Sequence[str] | None = None, schedule: str = '',
                         span: float | None = None, **roll_options) -> np.ndarray:
  """Each sample's code schedule as a heat map (one row per code channel, one column per code
  step) above the piano roll it drove, on the roll's time axis; samples top to bottom. RGB uint8.

  ``codes``: ``[code_steps, channels]`` per sample; code step ``s`` covers frames ``s *
  frames_per_code ..``. ``code_dim``: channels before it are the scheduled code, the rest fresh
  step noise (a line divides them). ``span``: the colour scale's +-limit (default: the largest
  |value|)."""
  titles = list(titles or [f'sample {i}' for i in range(len(rolls))])
  if not (len(codes) == len(rolls) == len(titles)):
    raise ValueError(f'{len(codes)} code images, {len(rolls)} rolls, {len(titles)} titles')
  span = float(span or max(1e-6, max(float(np.abs(c).max()) for c in codes)))
  images = []
  for code, roll, name in zip(codes, rolls, titles):
    code = np.asarray(code, np.float32)
    steps, channels = code.shape

    def draw(ax, _, code=code, steps=steps, channels=channels):
      image = ax.imshow(code.T, aspect='auto', interpolation='nearest', cmap='RdBu_r',
                        vmin=-span, vmax=span,
                        extent=(0, steps * frames_per_code, channels, 0))
      if code_dim is not None and 0 < code_dim < channels:
        ax.axhline(code_dim, color='black', lw=0.8)
        ax.set_yticks([code_dim / 2, (code_dim + channels) / 2], ['code', 'noise'])
      else:
        ax.set_yticks([0.5, channels - 0.5], ['0', str(channels - 1)])
      ax.set_ylabel('channel', fontsize=7, labelpad=1)
      _colour_bar(ax, image, 'code value')

    strip = dict(height=int(np.clip(4 * channels, 40, 160)), draw=draw, axis=False,
                 title=f'{name}: code schedule {schedule!s} ({steps} code steps x {channels})')
    fig = roll_with_strips(roll, title=f'{name}: generated', above=[strip], right_px=70,
                           **roll_options)
    images.append(viz.figure_image(fig))
  width = max(i.shape[1] for i in images)
  images = [np.pad(i, ((0, 0), (0, width - i.shape[1]), (0, 0)), constant_values=255)
            for i in images]
  return np.concatenate(images, axis=0)

