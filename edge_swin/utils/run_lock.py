"""One run at a time in a run folder: an exclusive lock on `<folder>/.lock` held for the whole run.

The lock is the kernel's (fcntl.flock), so it dies with its process: a lock left by a run that was
killed is recognised (nothing holds it) and taken over. The file also records who holds it (pid,
host, start time, command), which is what a second run prints when it is refused.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
from pathlib import Path

from edge_swin.errors import EdgeSwinError
from edge_swin.utils.io import write_error

LOCK_NAME = ".lock"


class RunFolderBusy(EdgeSwinError):
    """Another run holds the run folder."""


class RunLock:
    """`with RunLock(folder, command):` holds `folder` for this process, or raises RunFolderBusy naming the holder."""

    def __init__(self, folder: str | Path, command: str):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.command = command
        self.fd: int | None = None
        self.took_over: dict | None = None  # what a dead run had left in the lock file, when there was one
        self.made_folder = False  # a run that fails before writing anything leaves no empty folder behind

    def acquire(self) -> RunLock:
        try:
            self.made_folder = not self.folder.exists()
            self.folder.mkdir(parents=True, exist_ok=True)
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _read(fd)
                    os.close(fd)
                    raise RunFolderBusy(f"{self.folder} is in use by another run ({describe(holder)}): wait for it to "
                                        "end, or give this run another --out") from None
                if _same_file(fd, self.path):
                    break
                os.close(fd)  # the holder released and removed the file between our open and flock: try again
            self.took_over = _read(fd) or None
            record = {"pid": os.getpid(), "host": socket.gethostname(),
                      "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "command": self.command}
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        except OSError as err:
            translated = write_error(self.path, err)
            if translated is None:
                raise
            raise translated from None
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # removed while still held: no one can lock a file on its way out
            if self.made_folder and not any(self.folder.iterdir()):
                self.folder.rmdir()
        except OSError:
            pass  # a folder turned read-only keeps the file; the lock itself goes with the descriptor
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def describe(holder: dict) -> str:
    """One line naming a lock holder."""
    if not holder:
        return "it has not yet recorded who it is"
    return (f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}: "
            f"{holder.get('command')}")

