"""dsjax: music generation with long-term structure, in JAX."""

import os as _os

__version__ = '0.1.0'


def _import_fluidsynth_quietly() -> None:
  """pyfluidsynth prints the library it found on import whenever ``$CI`` is set, and pretty_midi
  imports it on its own import: that line would open every command's output (and break the
  one-line errors) on a CI machine. Imported once here, with that print held back."""
  import contextlib
  import io
  with contextlib.redirect_stdout(io.StringIO()):
    try:
      import fluidsynth  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    except Exception:  # pylint: disable=broad-except  (no FluidSynth: pretty_midi copes)
      pass


if _os.environ.get('CI'):
  _import_fluidsynth_quietly()
