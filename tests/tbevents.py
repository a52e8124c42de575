"""Reads tensorboardX event files back (TFRecord framing + Event protos) for tests."""

from __future__ import annotations

import glob
import os
import struct

from tensorboardX.proto import event_pb2


def read_events(logdir: str) -> list:
  events = []
  for path in sorted(glob.glob(os.path.join(logdir, '**', 'events.out.tfevents.*'),
                               recursive=True)):
    with open(path, 'rb') as f:
      data = f.read()
    pos = 0
    while pos + 12 <= len(data):
      (length,) = struct.unpack('<Q', data[pos:pos + 8])
      payload = data[pos + 12:pos + 12 + length]
      pos += 12 + length + 4
      ev = event_pb2.Event()
      ev.ParseFromString(payload)
      events.append(ev)
  return events


def summary_kinds(logdir: str) -> dict[str, set[str]]:
  """``{tag: {'simple_value'|'image'|'audio'|...}}`` over all summaries in ``logdir``."""
  kinds: dict[str, set[str]] = {}
  for ev in read_events(logdir):
    if ev.HasField('summary'):
      for v in ev.summary.value:
        kinds.setdefault(v.tag, set()).add(v.WhichOneof('value'))
  return kinds
