"""dsjax.runtime: the huge-page re-exec of the entry points."""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from dsjax import runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_thp_mode_reads_the_bracketed_mode(tmp_path):
  f = tmp_path / 'enabled'
  f.write_text('always [madvise] never\n')
  assert runtime.thp_mode(str(f)) == 'madvise'
  f.write_text('[always] madvise never\n')
  assert runtime.thp_mode(str(f)) == 'always'
  assert runtime.thp_mode(str(tmp_path / 'missing')) is None


def test_huge_pages_env_only_when_it_helps():
  env = runtime.huge_pages_env({'PATH': '/bin'}, mode='madvise', libc='glibc')
  assert env == {'PATH': '/bin', 'GLIBC_TUNABLES': 'glibc.malloc.hugetlb=1'}
  # Other tunables are kept, the new one appended.
  env = runtime.huge_pages_env({'GLIBC_TUNABLES': 'glibc.malloc.arena_max=2'}, mode='madvise',
                               libc='glibc')
  assert env['GLIBC_TUNABLES'] == 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1'
  # Nothing to do: already set (also what stops a second re-exec), opted out, kernel THP mode
  # 'always' (already huge) or 'never' (none to get), no glibc.
  assert runtime.huge_pages_env({'GLIBC_TUNABLES': 'glibc.malloc.hugetlb=0'}, mode='madvise',
                                libc='glibc') is None
  assert runtime.huge_pages_env({'DSJAX_HUGE_PAGES': '0'}, mode='madvise', libc='glibc') is None
  assert runtime.huge_pages_env({}, mode='always', libc='glibc') is None
  assert runtime.huge_pages_env({}, mode='never', libc='glibc') is None
  assert runtime.huge_pages_env({}, mode=None, libc='glibc') is None
  assert runtime.huge_pages_env({}, mode='madvise', libc='') is None


@pytest.mark.parametrize('opt_out', [False, True])
def test_reexec_runs_the_same_command_once_more_with_the_tunable(tmp_path, opt_out):
  script = tmp_path / 'entry.py'
  script.write_text(textwrap.dedent('''
      import os, sys
      print('start', sys.argv[1:], flush=True)
      from dsjax import runtime
      runtime.reexec_with_huge_pages()
      print('tunables', os.environ.get('GLIBC_TUNABLES', ''), flush=True)
  '''))
  env = {k: v for k, v in os.environ.items() if k != 'GLIBC_TUNABLES'}
  env['PYTHONPATH'] = ROOT
  if opt_out:
    env['DSJAX_HUGE_PAGES'] = '0'
  out = subprocess.run([sys.executable, str(script), 'a', '--b=1'], env=env, check=True,
                       capture_output=True, text=True).stdout.splitlines()
  applies = (not opt_out and sys.platform.startswith('linux')
             and platform.libc_ver()[0] == 'glibc' and runtime.thp_mode() == 'madvise')
  starts = [line for line in out if line.startswith('start')]
  assert starts == ["start ['a', '--b=1']"] * (2 if applies else 1)
  assert out[-1].strip() == ('tunables glibc.malloc.hugetlb=1' if applies else 'tunables')
