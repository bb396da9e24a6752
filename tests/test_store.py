"""The upload store: content keys, byte cap with least-recently-used eviction, lifetime, no paths."""

import threading

import numpy as np
import pytest

from swviz import InputError
from swviz.shapes import load_shape, points_to_npy
from swviz.store import KEY_HEX, ShapeStore, content_key, is_key


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_key_is_the_content_hash_of_bytes_and_format():
    a = content_key(b"1 2 3\n", "xyz")
    assert a == content_key(b"1 2 3\n", "xyz") and is_key(a) and len(a) == KEY_HEX
    assert a != content_key(b"1 2 3\n", "csv")  # another format is another shape
    assert a != content_key(b"1 2 4\n", "xyz")
    assert not is_key("sphere") and not is_key(a.upper()) and not is_key(a[:-1]) and not is_key(None)


def test_round_trip_gives_back_the_exact_bytes_and_the_same_shape():
    pts = np.random.default_rng(0).normal(size=(50, 3))
    data = points_to_npy(pts)
    store = ShapeStore()
    key = store.put(data, "npy", "cloud.npy")
    assert key == content_key(data, "npy") and key in store
    got = store.get(key)
    assert got.data == data and got.fmt == "npy" and got.name == "cloud.npy"
    shape = load_shape(got.data, got.filename)
    np.testing.assert_array_equal(shape.vertices, pts)


def test_storing_twice_keeps_one_copy():
    store = ShapeStore()
    k1 = store.put(b"abc", "xyz", "first.xyz")
    k2 = store.put(b"abc", "xyz", "second.xyz")
    assert k1 == k2 and len(store) == 1 and store.nbytes == 3
    assert store.get(k1).name == "first.xyz"


def test_byte_cap_evicts_the_least_recently_used():
    store = ShapeStore(max_bytes=100)
    a = store.put(b"a" * 40, "xyz")
    b = store.put(b"b" * 40, "xyz")
    assert store.get(a) is not None  # a is now more recent than b
    c = store.put(b"c" * 40, "xyz")  # 120 > 100: drop b, the least recently used
    assert a in store and c in store and b not in store
    assert store.nbytes == 80 <= store.max_bytes
    assert store.get(b) is None


def test_entries_expire_after_their_lifetime_since_last_use():
    clock = Clock()
    store = ShapeStore(max_age_s=10.0, clock=clock)
    a = store.put(b"aaa", "xyz")
    b = store.put(b"bbb", "xyz")
    clock.t = 8.0
    assert store.get(a) is not None  # used at t = 8
    clock.t = 15.0
    assert a in store and b not in store  # b unused since t = 0
    clock.t = 18.5
    assert store.get(a) is None and len(store) == 0 and store.nbytes == 0
    assert "24 h" in ShapeStore().lifetime()


def test_refuses_what_it_cannot_hold_or_name():
    store = ShapeStore(max_bytes=10)
    with pytest.raises(InputError, match="at most 10"):
        store.put(b"x" * 11, "xyz")
    for fmt in ("../etc", "o/bj", "", "toolongformat"):
        with pytest.raises(InputError, match="format"):
            store.put(b"x", fmt)
    with pytest.raises(InputError, match="bytes"):
        store.put("text", "xyz")
    with pytest.raises(InputError):
        ShapeStore(max_bytes=0)


def test_a_hostile_name_is_only_a_label():
    store = ShapeStore()
    key = store.put(b"0 0 0\n1 0 0\n0 1 0\n", "xyz", "../../etc/passwd\x00\n")
    item = store.get(key)
    assert "\x00" not in item.name and "\n" not in item.name
    assert item.filename.endswith(".xyz")
    assert load_shape(item.data, item.filename).n_vertices == 3


def test_concurrent_puts_respect_the_cap():
    store = ShapeStore(max_bytes=1000)

    def work(i):
        for j in range(50):
            store.put(bytes([i, j]) * 30, "xyz")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.nbytes == 60 * len(store) <= 1000
