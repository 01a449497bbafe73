"""GPTQ-style rounding of INT4 weights with error feedback (numpy).

Per output channel, integer weights q near the least-squares target u* minimizing (q - u*) H (q - u*)^T,
H the Gram matrix of the layer's (quantized) inputs: the columns are rounded one at a time, largest
diag(H) first, and each rounding error is pushed onto the columns not rounded yet through the Cholesky
factor of H^-1, so later weights compensate for earlier ones (Frantar et al., OBQ/GPTQ).
"""
from __future__ import annotations

import numpy as np

QMAX = 7


def damped(h: np.ndarray, damp: float) -> np.ndarray:
    """H + damp * mean(diag H) * I (per channel for a [C, K, K] stack): dead inputs make H singular."""
    d = np.diagonal(h, axis1=-2, axis2=-1)
    lam = damp * np.maximum(d.mean(-1), 1e-12)
    eye = np.eye(h.shape[-1])
    return h + (lam[..., None, None] * eye if h.ndim == 3 else lam * eye)


def lsq_target(target: np.ndarray, h: np.ndarray) -> np.ndarray:
    """u* with u* H = target, row by row (H shared [K, K] or per channel [C, K, K])."""
    if h.ndim == 2:
        return np.linalg.solve(h, target.T).T
    return np.linalg.solve(h, target[..., None])[..., 0]


def _gptq_shared(u: np.ndarray, h: np.ndarray, qmax: int) -> np.ndarray:
    k = u.shape[1]
    perm = np.argsort(-np.diag(h), kind="stable")
    hp = h[np.ix_(perm, perm)]
    w = u[:, perm].copy()
    up = np.linalg.cholesky(np.linalg.inv(hp)).T  # upper factor: H^-1 = U^T U
    q = np.empty_like(w)
    for j in range(k):
        q[:, j] = np.clip(np.round(w[:, j]), -qmax, qmax)
        err = (w[:, j] - q[:, j]) / up[j, j]
        w[:, j + 1:] -= err[:, None] * up[j, j + 1:][None, :]
    out = np.empty_like(q)
    out[:, perm] = q
    return out


def gptq_round(u: np.ndarray, target: np.ndarray, h: np.ndarray, *, damp: float = 0.01, qmax: int = QMAX,
               lsq: bool = True) -> np.ndarray:
    """Integer weights [C, K] in [-qmax, qmax] near u for the objective q H q^T - 2 target q^T (per row; H
    shared [K, K] or per channel [C, K, K]), damped by damp * mean(diag H) * |q - u|^2. With ``lsq`` the
    rounding starts from the objective's own minimizer (it differs from u when the layer's inputs are the
    quantized model's: target = u Gfq), else from u."""
    h = np.asarray(h, np.float64)
    hd = damped(h, damp)
    if lsq:
        lam = (hd - h)[..., 0, 0]  # the damping added on the diagonal
        lam = lam[:, None] if np.ndim(lam) else lam
        ustar = lsq_target(np.asarray(target, np.float64) + lam * u, hd)
    else:
        ustar = np.asarray(u, np.float64)
    if hd.ndim == 2:
        return _gptq_shared(ustar, hd, qmax)
    return np.concatenate([_gptq_shared(ustar[c:c + 1], hd[c], qmax) for c in range(ustar.shape[0])])
