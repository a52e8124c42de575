"""One run per workdir: ``with WorkdirLock(workdir): ...`` around a training run.

The lock is the file ``WORKDIR/run.lock``, held with ``flock`` (the kernel releases it when the
holder dies, even by ``kill -9``) and holding the holder's process id, host and start time as
JSON. A second run on the same workdir is refused at once with :class:`WorkdirLocked`, naming
the holder; a lock file left behind by a run that died is taken over with a message. The file is
removed when the holder exits. On a shared filesystem without working ``flock`` the recorded
process is checked instead (a holder on another host is trusted to be alive).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time

LOCK_NAME = 'run.lock'


class WorkdirLocked(RuntimeError):
  """Another live run holds the workdir."""


def _holder_text(info: dict) -> str:
  started = info.get('started')
  when = (time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))
          if isinstance(started, (int, float)) else '?')
  return f"process {info.get('pid', '?')} on host {info.get('host', '?')}, started {when}"


def _alive_here(pid) -> bool:
  try:
    os.kill(int(pid), 0)
  except ProcessLookupError:
    return False
  except (PermissionError, TypeError, ValueError):
    return True
  return True


class WorkdirLock:
  """The lock of one workdir (see the module docstring). ``acquire`` raises
  :class:`WorkdirLocked` naming the holder; ``release`` removes the file."""

  def __init__(self, workdir: str):
    self.workdir = os.path.abspath(workdir)
    self.path = os.path.join(self.workdir, LOCK_NAME)
    self._fd = None
    self.taken_over: dict | None = None   # what a dead holder had written, when taken over

  def acquire(self) -> 'WorkdirLock':
    try:
      os.makedirs(self.workdir, exist_ok=True)
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
      raise OSError(f'cannot write to the workdir {self.workdir} ({e.strerror}); give a '
                    '--workdir you can write to') from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      info = _read(fd)
      os.close(fd)
      if e.errno in (errno.EAGAIN, errno.EACCES):
        raise WorkdirLocked(f'{self.workdir} is in use by another run ({_holder_text(info)}); '
                            f'wait for it, stop it, or train in another --workdir') from None
      raise
    # The file may have been removed by a holder that released it between our open and flock.
    if not _same_file(fd, self.path):
      os.close(fd)
      return self.acquire()
    previous = _read(fd)
    if previous.get('pid') not in (None, os.getpid()):
      # flock granted: the recorded holder is gone, unless flock does not work on this
      # filesystem; then trust a live process here, or any holder on another host.
      if not _flock_works(self.path) and (previous.get('host') != socket.gethostname()
                                          or _alive_here(previous['pid'])):
        os.close(fd)
        raise WorkdirLocked(f'{self.workdir} is in use by another run ({_holder_text(previous)}); '
                            f'if that run is gone, remove {self.path}')
      self.taken_over = previous
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({'pid': os.getpid(), 'host': socket.gethostname(),
                             'started': time.time()}).encode())
    os.fsync(fd)
    self._fd = fd
    return self

  def release(self) -> None:
    if self._fd is None:
      return
    try:
      if _same_file(self._fd, self.path):
        os.remove(self.path)
    except OSError:
      pass
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)
    self._fd = None

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()


def _read(fd) -> dict:
  try:
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, 4096)
    return json.loads(data.decode()) if data.strip() else {}
  except (OSError, ValueError):
    return {}


def _same_file(fd, path: str) -> bool:
  try:
    a, b = os.fstat(fd), os.stat(path)
  except OSError:
    return False
  return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _flock_works(path: str) -> bool:
  """Whether ``flock`` excludes another open file description of ``path`` (false on some network
  filesystems, where every flock succeeds)."""
  try:
    fd = os.open(path, os.O_RDONLY)
  except OSError:
    return False
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError:
    return True
  else:
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False
  finally:
    os.close(fd)


_HELD: dict[str, list] = {}   # path -> [lock, depth]: the locks this process holds


@contextlib.contextmanager
def hold(workdir: str):
  """Holds ``workdir``'s lock for the ``with`` block; re-entrant within a process (a block inside
  another for the same workdir shares its lock). Prints a line when it takes over the lock of a
  run that died."""
  path = os.path.abspath(workdir)
  if path in _HELD:
    _HELD[path][1] += 1
  else:
    lock = WorkdirLock(path).acquire()
    if lock.taken_over:
      print(f'{path}: took over the lock of a run that ended without releasing it '
            f'({_holder_text(lock.taken_over)})', flush=True)
    _HELD[path] = [lock, 1]
  try:
    yield
  finally:
    entry = _HELD[path]
    entry[1] -= 1
    if entry[1] == 0:
      del _HELD[path]
      entry[0].release()
