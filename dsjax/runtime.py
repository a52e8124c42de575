"""Process set-up for the entry points: transparent huge pages for XLA's CPU buffers.

XLA on CPU allocates its temporaries afresh on every call of a compiled step. Large allocations
come from ``mmap``, so each call first-touches new 4 KiB pages, and on a virtual machine a page
fault costs microseconds. glibc's malloc tunable ``glibc.malloc.hugetlb=1`` (glibc >= 2.35) makes
it ``madvise`` its memory for transparent huge pages (2 MiB), 512 times fewer faults (the README's
Benchmarks section gives what that saves).

The tunable is read when the process starts, so :func:`reexec_with_huge_pages` re-executes the
command line with it set. The launchers call it first thing; ``DSJAX_HUGE_PAGES=0`` turns it off.
It does nothing off Linux/glibc, when the kernel's THP mode is ``never`` (no huge pages) or
``always`` (already huge), or when ``GLIBC_TUNABLES`` already names ``glibc.malloc.hugetlb``.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Mapping, Optional, Sequence

HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb=1'
THP_MODE_FILE = '/sys/kernel/mm/transparent_hugepage/enabled'
OPT_OUT = 'DSJAX_HUGE_PAGES'


def thp_mode(path: str = THP_MODE_FILE) -> Optional[str]:
  """The kernel's transparent-huge-page mode (``'always'``, ``'madvise'``, ``'never'``) or None."""
  try:
    with open(path) as f:
      text = f.read()
  except OSError:
    return None
  start, end = text.find('['), text.find(']')
  return text[start + 1:end] if 0 <= start < end else None


def huge_pages_env(environ: Mapping[str, str], *, mode: Optional[str],
                   libc: str) -> Optional[dict]:
  """The environment to re-execute with, or None when nothing is to be done (see module doc)."""
  if environ.get(OPT_OUT, '1') == '0' or libc != 'glibc' or mode != 'madvise':
    return None
  tunables = environ.get('GLIBC_TUNABLES', '')
  if 'glibc.malloc.hugetlb' in tunables:
    return None
  env = dict(environ)
  env['GLIBC_TUNABLES'] = f'{tunables}:{HUGE_PAGES_TUNABLE}' if tunables else HUGE_PAGES_TUNABLE
  return env


def reexec_with_huge_pages(argv: Optional[Sequence[str]] = None) -> None:
  """Re-executes this Python command with glibc's huge-page tunable set, if it helps here.

  Call it before anything else happens in the process (the command runs again from the start;
  ``execv`` keeps the process id, so launchers and process managers see the same process).
  ``argv`` defaults to ``sys.orig_argv`` (the interpreter's own command line, ``-m`` included).
  """
  if not sys.platform.startswith('linux') or not sys.executable:
    return
  env = huge_pages_env(os.environ, mode=thp_mode(), libc=platform.libc_ver()[0])
  if env is None:
    return
  argv = list(sys.orig_argv if argv is None else argv)
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, argv, env)
