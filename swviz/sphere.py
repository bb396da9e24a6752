"""The slicing sphere: ``W_p^p(theta)`` for every direction of a pair, as data for a map.

Every estimator of ``SW_p^p`` averages one function over the sphere, ``theta -> W_p^p(theta_# mu,
theta_# nu)``; Max-SW is its maximum and v-DSW the best average over a vMF cap. :func:`sphere_map`
evaluates it

* on a Fibonacci lattice of nearly equal-area points (:func:`swviz.directions.fibonacci_sphere`),
  the vertices of a sphere mesh (their convex hull) coloured by the value, and
* on an equirectangular grid (azimuth by latitude, cell midpoints), whose cells carry their exact
  areas ``dphi (sin lat_top - sin lat_bottom) / 4 pi`` as quadrature weights, so the
  area-weighted mean of the map is the midpoint-rule value of ``SW_p^p``.

``W(theta) = W(-theta)``, so only half of the grid is sliced and the antipodes are mirrored. In
two dimensions the sphere is the circle and :func:`sphere_map` returns the half circle
(midpoint rule, as :func:`swviz.reference_sw`).

Angles follow the one-slice explainer of the Variance page: azimuth ``phi`` from ``+x`` in the
``xy`` plane, polar angle ``t`` from ``+z``, ``theta = (sin t cos phi, sin t sin phi, cos t)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import directions as _dirs
from ._validation import InputError, check_count, check_p, check_pair, rng_from
from .estimators import get_estimator
from .slices import sliced_wpp

__all__ = ["SphereMap", "angles_of", "direction_from_angles", "estimator_directions", "sphere_map"]


@dataclass(frozen=True)
class SphereMap:
    """``W_p^p(theta)`` over the sphere (d = 3) or the half circle (d = 2).

    dim : int
    p : float
    lattice : (N, d) float
        Fibonacci lattice (d = 3) or the half circle's midpoints (d = 2).
    lattice_values : (N,) float
        ``W_p^p`` on each lattice direction.
    azimuth : (n_az,) float
        Grid azimuths in degrees, cell midpoints in [0, 360) (d = 3); the half circle's angles in
        [0, 180) for d = 2.
    latitude : (n_lat,) float
        Grid latitudes in degrees, cell midpoints from -90 to 90 (d = 3; empty for d = 2).
    grid : (n_lat, n_az) float
        ``W_p^p`` on the grid (d = 3); ``(1, n_az)`` for d = 2.
    grid_weights : (n_lat, n_az) float
        Each cell's share of the sphere's area (summing to 1).
    """

    dim: int
    p: float
    lattice: np.ndarray
    lattice_values: np.ndarray
    azimuth: np.ndarray
    latitude: np.ndarray
    grid: np.ndarray
    grid_weights: np.ndarray

    @property
    def mean(self) -> float:
        """Area-weighted mean over the grid: the midpoint-rule ``SW_p^p``."""
        return float((self.grid * self.grid_weights).sum())

    @property
    def lattice_mean(self) -> float:
        """Plain mean over the lattice (the Fibonacci quadrature of ``SW_p^p``)."""
        return float(self.lattice_values.mean())

    @property
    def max(self) -> float:
        """Largest value seen on the grid and lattice (a lower bound of Max-SW)."""
        return float(max(self.grid.max(), self.lattice_values.max()))

    def argmax(self) -> np.ndarray:
        """The lattice or grid direction with the largest value: (d,) float."""
        if self.dim == 2:
            return self.lattice[int(np.argmax(self.lattice_values))]
        i, j = np.unravel_index(int(np.argmax(self.grid)), self.grid.shape)
        gmax = self.grid[i, j]
        if self.lattice_values.max() > gmax:
            return self.lattice[int(np.argmax(self.lattice_values))]
        return direction_from_angles(self.azimuth[j], 90.0 - self.latitude[i], 3)


def direction_from_angles(azimuth: float, polar: float = 90.0, d: int = 3) -> np.ndarray:
    """The unit direction of azimuth ``phi`` and polar angle ``t`` (degrees): (d,) float.

    d = 2: ``(cos phi, sin phi)`` (the polar angle is unused); d = 3:
    ``(sin t cos phi, sin t sin phi, cos t)``.
    """
    if d not in (2, 3):
        raise InputError(f"directions by angles exist here for d = 2 or 3; got d = {d}")
    a, t = np.radians(float(azimuth)), np.radians(float(polar))
    if not (np.isfinite(a) and np.isfinite(t)):
        raise InputError(f"angles must be finite; got azimuth {azimuth}, polar {polar}")
    if d == 2:
        return np.array([np.cos(a), np.sin(a)])
    return np.array([np.sin(t) * np.cos(a), np.sin(t) * np.sin(a), np.cos(t)])


def angles_of(theta) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth in [0, 360) and polar angle in [0, 180] (degrees) of unit rows: ``(k,), (k,)``.

    theta : (k, d) or (d,) float with d = 2 or 3 (d = 2: the polar angle is 90).
    """
    t = np.atleast_2d(np.asarray(theta, dtype=float))
    if t.shape[1] not in (2, 3):
        raise InputError(f"angles exist here for d = 2 or 3; got directions of shape {t.shape}")
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    az = np.degrees(np.arctan2(t[:, 1], t[:, 0])) % 360.0
    polar = np.full(len(t), 90.0) if t.shape[1] == 2 else np.degrees(np.arccos(np.clip(t[:, 2], -1, 1)))
    return az, polar


def estimator_directions(estimator: str, L: int, d: int, seed=None) -> np.ndarray:
    """The ``L`` directions a registered estimator would slice along: (L, d) float."""
    est = get_estimator(estimator)
    L = check_count(L)
    est.check(L, d)
    return np.asarray(est.directions(L, d, rng_from(seed)), dtype=float)


def sphere_map(x, y, a=None, b=None, *, p: float = 2, n_lattice: int = 2048, n_latitude: int = 48) -> SphereMap:
    """``W_p^p(theta)`` on a Fibonacci lattice and an equirectangular grid (d = 3), or the half circle (d = 2).

    Parameters
    ----------
    x : (n, d) float
    y : (m, d) float
    a, b : (n,), (m,) float, optional
    p : float
    n_lattice : int
        Fibonacci lattice size (d = 3), or half-circle directions (d = 2).
    n_latitude : int
        Grid rows (latitude bands, d = 3); the grid has ``2 n_latitude`` azimuths, of which half
        are sliced (the rest are antipodes).

    Returns
    -------
    SphereMap
    """
    x, y, a, b = check_pair(x, y, a, b)
    p = check_p(p)
    d = x.shape[1]
    N = check_count(n_lattice, "n_lattice")
    if d == 2:
        dirs = _dirs.half_circle(N)
        vals = sliced_wpp(x, y, dirs, a, b, p)
        az = 180.0 * (np.arange(N) + 0.5) / N
        return SphereMap(2, p, dirs, vals, az, np.zeros(0), vals[None, :], np.full((1, N), 1.0 / N))
    if d != 3:
        raise InputError(f"the slicing sphere is drawn for d = 2 (the circle) or d = 3; this pair has d = {d}")
    n_lat = check_count(n_latitude, "n_latitude")
    n_az = 2 * n_lat
    lattice = _dirs.fibonacci_sphere(N)
    lat_edges = np.linspace(-90.0, 90.0, n_lat + 1)
    lat = 0.5 * (lat_edges[:-1] + lat_edges[1:])
    az = 360.0 * (np.arange(n_az) + 0.5) / n_az
    half = n_az // 2  # azimuths below 180; the others are the antipodes of these
    A, LAT = np.meshgrid(az[:half], lat)
    phi, la = np.radians(A.ravel()), np.radians(LAT.ravel())
    grid_dirs = np.stack([np.cos(la) * np.cos(phi), np.cos(la) * np.sin(phi), np.sin(la)], axis=1)
    vals = sliced_wpp(x, y, np.concatenate([lattice, grid_dirs]), a, b, p)
    lattice_vals, half_grid = vals[:N], vals[N:].reshape(n_lat, half)
    # antipode of (phi, lat) is (phi + 180, -lat): row n_lat - 1 - i, column j + half
    grid = np.concatenate([half_grid, half_grid[::-1]], axis=1)
    band = np.diff(np.sin(np.radians(lat_edges))) / 2.0  # each band's share of the area
    weights = np.repeat(band[:, None] / n_az, n_az, axis=1)
    return SphereMap(3, p, lattice, lattice_vals, az, lat, grid, weights)
