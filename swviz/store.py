"""A bounded in-memory store of uploaded files, keyed by content hash, so a link can name an upload.

A URL cannot carry a file. The app keeps each uploaded file's raw bytes here, together with
its format (the file extension the loader dispatches on) and a display name, under a key
derived from the content: ``sha256(format + NUL + bytes)``, truncated to :data:`KEY_HEX`
hexadecimal digits. A link holds that key; whoever opens it on the same server gets the same
bytes back and parses them again with :func:`swviz.shapes.load_shape`. Nothing is pickled,
and the user's file name is only ever a label: it is never used as a path.

Lifetime of an entry (what the app tells its users):

* it lives in the server's memory only, so a server restart forgets every upload;
* it is dropped ``max_age_s`` seconds after it was last used (stored or read), 24 h by default;
* when the stored bytes would exceed ``max_bytes`` (256 MiB by default), the least recently
  used entries are dropped first until the new one fits.

A file larger than the whole store is refused with an :class:`~swviz.InputError`.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ._validation import InputError

__all__ = ["KEY_HEX", "ShapeStore", "StoredFile", "content_key", "is_key"]

#: Hexadecimal digits of the sha256 kept in a key (96 bits: collisions are out of reach).
KEY_HEX = 24
_KEY_RE = re.compile(rf"^[0-9a-f]{{{KEY_HEX}}}$")
_FORMAT_RE = re.compile(r"^[a-z0-9]{1,8}$")


def content_key(data: bytes, fmt: str) -> str:
    """The store key of ``data`` read as format ``fmt``: a truncated sha256 of both."""
    h = hashlib.sha256(fmt.encode("ascii") + b"\0")
    h.update(data)
    return h.hexdigest()[:KEY_HEX]


def is_key(text) -> bool:
    """Whether ``text`` has the form of a store key (it may still be absent from the store)."""
    return isinstance(text, str) and _KEY_RE.match(text) is not None


@dataclass(frozen=True)
class StoredFile:
    """One stored upload.

    key : str
        Its content key (:func:`content_key`).
    data : bytes
        The file's raw bytes, exactly as uploaded.
    fmt : str
        The format the loader reads it as ("obj", "npy"...).
    name : str
        The name to show (the uploaded file's name); never a path.
    """

    key: str
    data: bytes
    fmt: str
    name: str

    @property
    def filename(self) -> str:
        """``name`` when it already ends in ``.fmt``, else ``name.fmt``: what the loader is given."""
        return self.name if self.name.lower().endswith("." + self.fmt) else f"{self.name}.{self.fmt}"


class ShapeStore:
    """Uploaded files by content key, bounded in bytes, least recently used dropped first.

    Parameters
    ----------
    max_bytes : int
        Cap on the total size of the stored files.
    max_age_s : float
        An entry unused (neither stored nor read) for longer than this is dropped.
    clock : callable returning seconds, optional
        ``time.monotonic`` by default; tests pass a fake clock.

    Safe to share between threads (the app holds one instance for all sessions).
    """

    def __init__(self, max_bytes: int = 256 * 2**20, max_age_s: float = 24 * 3600.0,
                 clock: Callable[[], float] = time.monotonic):
        if int(max_bytes) <= 0:
            raise InputError(f"max_bytes must be positive, got {max_bytes}")
        if not float(max_age_s) > 0:
            raise InputError(f"max_age_s must be positive, got {max_age_s}")
        self.max_bytes = int(max_bytes)
        self.max_age_s = float(max_age_s)
        self._clock = clock
        self._items: OrderedDict[str, tuple[StoredFile, float]] = OrderedDict()  # oldest use first
        self._nbytes = 0
        self._lock = threading.Lock()

    def put(self, data: bytes, fmt: str, name: str = "") -> str:
        """Store ``data`` (read as format ``fmt``, shown as ``name``) and return its key.

        Storing the same bytes again refreshes the entry (and keeps the first name). Raises an
        :class:`~swviz.InputError` for a format that is not a short lower-case extension, or a
        file larger than the whole store.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError(f"expected the file's bytes, got {type(data).__name__}")
        data = bytes(data)
        fmt = str(fmt).lower().lstrip(".")
        if not _FORMAT_RE.match(fmt):
            raise InputError(f"format {fmt!r} is not a file extension such as 'obj' or 'npy'")
        if len(data) > self.max_bytes:
            raise InputError(f"the file is {len(data):,} bytes; the upload store holds at most {self.max_bytes:,}")
        key = content_key(data, fmt)
        label = "".join(ch for ch in str(name) if ch.isprintable()).strip()[:120] or f"upload.{fmt}"
        with self._lock:
            now = self._clock()
            self._expire(now)
            if key in self._items:
                item, _ = self._items.pop(key)
            else:
                item = StoredFile(key, data, fmt, label)
                self._nbytes += len(data)
            self._items[key] = (item, now)
            while self._nbytes > self.max_bytes:  # the new entry is last, and fits on its own
                _, (old, _) = self._items.popitem(last=False)
                self._nbytes -= len(old.data)
        return key

    def get(self, key: str) -> StoredFile | None:
        """The stored file for ``key`` (and mark it used), or None when it is not (or no longer) held."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            entry = self._items.pop(key, None) if isinstance(key, str) else None
            if entry is None:
                return None
            self._items[key] = (entry[0], now)
            return entry[0]

    def __contains__(self, key) -> bool:
        """Whether ``key`` is held (without marking it used)."""
        with self._lock:
            self._expire(self._clock())
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._items)

    @property
    def nbytes(self) -> int:
        """Total size of the stored files in bytes."""
        with self._lock:
            self._expire(self._clock())
            return self._nbytes

    def lifetime(self) -> str:
        """The entries' lifetime in one sentence, for the page."""
        hours = self.max_age_s / 3600
        age = f"{hours:g} h" if hours >= 1 else f"{self.max_age_s / 60:g} min"
        return (f"Uploads are kept in this server's memory for {age} after their last use, at most "
                f"{self.max_bytes / 2**20:g} MB in all (the least recently used go first), and are lost "
                "when the server restarts.")

    def _expire(self, now: float) -> None:
        while self._items:
            key, (item, used) = next(iter(self._items.items()))
            if now - used <= self.max_age_s:
                break
            del self._items[key]
            self._nbytes -= len(item.data)
