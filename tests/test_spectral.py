"""The spectral toolkit: sphere eigenvalues, heat geodesics, signatures' invariance, bad meshes."""

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from swviz.spectral import geodesic_distances, heat_geodesics_batch, hks, mesh_report, spectral_mesh, wks


def _sphere(sub=3):
    m = trimesh.creation.icosphere(subdivisions=sub)
    return np.asarray(m.vertices), np.asarray(m.faces)


def blob(sub=3):
    """A mesh without symmetries: a sphere with an asymmetric radial bump."""
    v, f = _sphere(sub)
    x, y, z = v.T
    return v * (1 + 0.15 * np.sin(3 * x + 1) * np.cos(2 * y + 0.7) + 0.1 * z**3 + 0.12 * x * y)[:, None], f


def test_unit_sphere_eigenvalues_are_l_l_plus_one_with_multiplicity():
    v, f = _sphere(3)
    sm = spectral_mesh(v, f)
    evals, evecs = sm.eigenbasis(25)
    lam = evals / sm.area  # back to the unit sphere's own scale
    expected = np.concatenate([[l * (l + 1)] * (2 * l + 1) for l in range(5)])  # 1 + 3 + 5 + 7 + 9 = 25
    assert lam[0] == pytest.approx(0, abs=1e-8)
    assert np.allclose(lam[1:], expected[1:], rtol=0.03)
    # each multiplet is tight and well separated from the next
    for l in range(1, 5):
        block = lam[l * l:(l + 1) ** 2]
        assert np.ptp(block) < 0.01 * block.mean()
    assert np.allclose(evecs.T @ (sm.mass[:, None] * evecs), np.eye(25), atol=1e-8)


def test_heat_geodesics_on_a_sphere_match_great_circles():
    v, f = _sphere(3)
    sm = spectral_mesh(v, f)
    src = np.arange(0, len(v), 37)
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    gc = np.arccos(np.clip(u[src] @ u.T, -1, 1))  # (s, n) great-circle distances
    far = gc > 0.2
    for d in (heat_geodesics_batch(sm, src), geodesic_distances(sm, src[:5])):
        g = gc[: len(d)]
        assert np.abs(d - g).max() < 0.02 * np.pi  # within 2% of the diameter everywhere
        assert np.mean(np.abs(d - g)[far[: len(d)]] / g[far[: len(d)]]) < 0.02
    assert np.allclose(heat_geodesics_batch(sm, src[:5]), geodesic_distances(sm, src[:5]), atol=0.01)


def test_wks_and_hks_are_invariant_to_rigid_motions():
    v, f = blob(3)
    R = Rotation.random(random_state=3).as_matrix()
    a, b = spectral_mesh(v, f), spectral_mesh(3.0 + v @ R.T, f)
    ea, pa = a.eigenbasis(40)
    eb, pb = b.eigenbasis(40)
    assert np.allclose(ea, eb, rtol=1e-6, atol=1e-8)
    for sig in (wks, hks):
        sa, sb = sig(ea, pa), sig(eb, pb)  # squares of eigenfunctions: sign-free
        assert np.abs(sa - sb).max() < 1e-6 * np.abs(sa).max()
    # and they tell vertices apart: not a constant signature
    assert np.std(wks(ea, pa)[:, 5]) > 0.01 * np.mean(wks(ea, pa)[:, 5])


def test_unscaled_hks_integrates_to_the_heat_trace():
    v, f = blob(3)
    sm = spectral_mesh(v, f)
    e, p = sm.eigenbasis(40)
    h = hks(e, p, times=[0.01, 0.1]) * np.exp(-np.outer(e, [0.01, 0.1])).sum(0)  # unscaled k_t(x, x)
    # sum_x m_x k_t(x, x) = sum_k exp(-lambda_k t): the heat trace
    assert sm.mass @ h == pytest.approx(np.exp(-np.outer(e, [0.01, 0.1])).sum(0), rel=1e-9)


def test_bad_meshes_are_refused_or_reported():
    v, f = _sphere(2)
    with pytest.raises(ValueError, match="isolated vertices"):
        spectral_mesh(np.vstack([v, [[5.0, 5, 5]]]), f)
    with pytest.raises(ValueError, match="2 connected components"):
        spectral_mesh(np.vstack([v, v + 3]), np.vstack([f, f + len(v)]))
    with pytest.raises(ValueError, match="triangle soup"):
        p = v[f].reshape(-1, 3)
        spectral_mesh(p, np.arange(len(p)).reshape(-1, 3))
    with pytest.raises(ValueError, match="index vertices"):
        spectral_mesh(v, f + 1000)
    # a fin glued onto an edge: non-manifold, handled by the tufted Laplacian
    a, b = f[0, 0], f[0, 1]
    fin = np.vstack([v, [(v[a] + v[b]) / 2 + 0.3 * (v[a] + v[b])]])
    faces = np.vstack([f, [[a, b, len(v)]]])
    r = mesh_report(fin, faces)
    assert r.non_manifold_edges == 1 and not r.manifold and r.components == 1
    sm = spectral_mesh(fin, faces)
    e, _ = sm.eigenbasis(6)
    assert e[0] == pytest.approx(0, abs=1e-6) and np.all(np.diff(e) >= -1e-9) and e[1] > 1e-3
    # a zero-area face (three collinear vertices) is reported and handled
    zv = np.vstack([v, [v[a] * 1.0, v[a] * 1.0 + 1e-3 * (v[b] - v[a]), v[a] + 2e-3 * (v[b] - v[a])]])
    n = len(v)
    zf = np.vstack([f, [[n, n + 1, n + 2], [a, n, n + 1], [n + 1, n + 2, a]]])
    rz = mesh_report(zv, zf)
    assert rz.zero_area_faces >= 1 and any("zero-area" in note for note in rz.notes)
    # handled: the eigenbasis exists, and the heat geodesics leave the degenerate vertices out
    # of the solves (they take their nearest neighbour's distance plus the offset to it)
    sz, clean = spectral_mesh(zv, zf), spectral_mesh(v, f)
    ez, _ = sz.eigenbasis(6)
    assert np.all(np.isfinite(ez)) and ez[1] > 1e-3
    d, d0 = heat_geodesics_batch(sz, [a, n + 2]), heat_geodesics_batch(clean, [a])[0]
    assert np.all(np.isfinite(d)) and np.abs(d[0, :n] - d0).max() < 1e-3 * d0.max()
    assert d[0, n] == pytest.approx(0.0, abs=1e-12)  # vertex n sits on vertex a
    assert d[1, a] == pytest.approx(2e-3 * np.linalg.norm(v[b] - v[a]), rel=1e-6)
