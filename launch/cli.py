"""What every launcher shares: ``cli.run(main, required=[...])`` instead of ``app.run(main)``.

A mistake a user can fix (a bad flag value, an unknown or misspelt config key, a missing config
file, workdir or checkpoint, a workdir another run holds, a bad MIDI file) ends the command with
one line on stderr, ``error: ...`` saying what is wrong and what to do, and exit status 2. Any
other exception is one line too, naming its type, with exit status 1. ``--traceback`` (or the
environment variable ``DSJAX_TRACEBACK=1``) shows the whole traceback instead, for developers.
"""

from __future__ import annotations

import math
import os
import re
import sys

from absl import app, flags

flags.DEFINE_bool('traceback', False, 'Show the full traceback of an error (also '
                  'DSJAX_TRACEBACK=1), not one line.')


class UsageError(ValueError):
  """A flag or setting the user gave is wrong: exit status 2, its message as the one line."""


def _user_error_types() -> tuple[type, ...]:
  from dsjax.data.midi_io import MidiLoadError
  from dsjax.train.checkpoint import CheckpointDamaged
  from dsjax.train.workdir_lock import WorkdirLocked
  return (ValueError, KeyError, OSError, app.UsageError, flags.Error, MidiLoadError,
          CheckpointDamaged, WorkdirLocked)


def _wants_traceback(argv) -> bool:
  return (os.environ.get('DSJAX_TRACEBACK', '') not in ('', '0')
          or any(a in ('--traceback', '--traceback=true', '--traceback=True') for a in argv))


def _config_override(argv, key: str) -> str | None:
  """The ``--config.a.b=v`` argument whose path has the component ``key``."""
  for a in argv:
    if a.startswith('--config.') and key in a.split('=', 1)[0].split('.')[1:]:
      return a
  return None


def describe(e: BaseException, argv) -> tuple[int, str]:
  """``(exit status, one line)`` for an exception that ends a command."""
  text = e.args[0] if (isinstance(e, KeyError) and e.args and isinstance(e.args[0], str)) \
      else str(e)
  if isinstance(e, KeyError) and ' ' not in text.strip():  # a bare key says nothing by itself
    text = f'KeyError: {text!r}'
  if 'Failed loading config file' in text:
    path = next((a.split('=', 1)[1] for a in argv if a.startswith('--config=')), '?')
    reason = text.strip().splitlines()[-1].strip()
    return 2, f'--config={path}: cannot load the config file ({reason})'
  line = ' '.join(text.split())
  if isinstance(e, _user_error_types()):
    return 2, line
  return 1, f'{type(e).__name__}: {line} (an internal error; rerun with --traceback for the trace)'


def _unknown_key(e: AttributeError, argv) -> str | None:
  """The line for ml_collections' ``AttributeError("'hiddn'\\nDid you mean ...")``, raised while
  an override flag is applied (None for another AttributeError)."""
  m = re.match(r"""^['"]?\\?'(?P<key>[^'\\]+)\\?'(?:\\n|\n)?(?P<hint>.*?)['"]?$""", str(e), re.S)
  if not m:
    return None
  key, hint = m.group('key'), m.group('hint').strip()
  flag = _config_override(argv, key)
  if flag is None:
    return None
  hint = hint.replace('Did you mean', 'did you mean').rstrip('?')
  return f'{flag.split("=", 1)[0]}: no config key {key!r}' + (f' ({hint}?)' if hint else '')


def _parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except AttributeError as e:
    line = _unknown_key(e, argv)
    if line is None:
      raise
    raise UsageError(line) from e
  except flags.Error as e:
    m = re.search(r'--(\w+) must have a value other than None', str(e))
    if m:
      raise UsageError(f'--{m.group(1)} is required') from e
    raise UsageError(str(e).replace('flag --', '--')) from e


def run(main, required=()) -> None:
  """``app.run(main)`` with flags ``required`` and errors as one line (see the module docstring)."""
  for name in required:
    flags.mark_flag_as_required(name)
  def checked_main(argv):
    try:
      return main(argv)
    except app.UsageError as e:  # one line, not absl's usage text
      raise UsageError(str(e)) from e

  try:
    app.run(checked_main, flags_parser=_parse_flags)
  except (SystemExit, KeyboardInterrupt):
    raise
  except Exception as e:  # pylint: disable=broad-except
    if _wants_traceback(sys.argv):
      raise
    code, line = describe(e, sys.argv)
    print(f'error: {line}', file=sys.stderr, flush=True)
    sys.exit(code)


# Checks of flag values shared by the launchers: each raises UsageError naming the flag.

def positive_int(name: str, value, allow_zero: bool = False):
  if value is None:
    return None
  low = 0 if allow_zero else 1
  if value < low:
    raise UsageError(f'--{name}={value}: must be {"0 or more" if allow_zero else "at least 1"}')
  return value


def finite_float(name: str, value, low=None, high=None, low_open=False, allow_inf=False):
  if value is None:
    return None
  if math.isnan(value) or (math.isinf(value) and not allow_inf):
    raise UsageError(f'--{name}={value}: must be a finite number')
  if low is not None and (value < low or (low_open and value == low)):
    raise UsageError(f'--{name}={value}: must be {">" if low_open else ">="} {low}')
  if high is not None and value > high:
    raise UsageError(f'--{name}={value}: must be <= {high}')
  return value
