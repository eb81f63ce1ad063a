"""Where a prop resting on the table stands, from image points, by a least-squares fit instead of an MLP.

The scene camera's pose is jittered per episode, so a prop's image point alone is ~1 cm ambiguous; the
locator's landmarks (the tool centre and two points on the table's far edge) pin the camera down. The
geometry MLP, trained on posed and reset scenes of four tasks at once, turned even *true* image points into
target positions 0.7-1.5 cm off (README, "Policy quality"), while a least-squares fit of cubic terms of the
same points got 0.2-0.3 cm per axis. This is that fit, solved in closed form on the scene bank's label rows
(true image points, the state, the true positions) before training, and kept in the checkpoint.

Inputs: the target's image point and every landmark's (centred: 2 * fraction - 1) and the tool centre's
position (normalized state entries). Output: the target's table x, y (dataset units, metres).
"""

from __future__ import annotations

from itertools import combinations_with_replacement

import torch
from torch import nn

from vla.errors import VlaUserError

DEGREE = 3
RIDGE = 1e-6
"""Ridge weight relative to the mean diagonal of the normal equations: guards against collinear terms, and
keeps the solve defined for a small bank (fewer rows than terms), where the fit is then poor and says so."""


def polynomial_terms(x: torch.Tensor, degree: int = DEGREE) -> torch.Tensor:
    """(B, n) -> (B, T): 1, every x_i, every x_i x_j (i <= j), ... up to `degree`."""
    cols = [torch.ones_like(x[:, :1])]
    n = x.shape[1]
    for d in range(1, degree + 1):
        for idx in combinations_with_replacement(range(n), d):
            cols.append(x[:, list(idx)].prod(1, keepdim=True))
    return torch.cat(cols, 1)


def num_terms(n: int, degree: int = DEGREE) -> int:
    return polynomial_terms(torch.zeros(1, n), degree).shape[1]


class TableFit(nn.Module):
    """Closed-form cubic least squares: (B, n) inputs -> (B, 2) table xy; zeros until fitted."""

    def __init__(self, num_inputs: int):
        super().__init__()
        self.num_inputs = num_inputs
        self.register_buffer("coef", torch.zeros(num_terms(num_inputs), 2))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return polynomial_terms(x.double()).matmul(self.coef.double()).to(x.dtype)

    @torch.no_grad()
    def fit(self, x: torch.Tensor, xy: torch.Tensor, holdout: float = 0.1, seed: int = 0) -> dict[str, float]:
        """Solve on (1 - holdout) of the rows; -> the held-out rows' median / p90 xy error (m) and the counts.
        Then refit on every row, so the checkpoint uses all of them."""
        x, xy = x.double(), xy.double()
        n = x.shape[0]
        if n == 0:
            raise VlaUserError(
                "the locator's table fit found no scene-bank scene with the target on the table and every landmark "
                "in view; render a larger bank (--aux-scenes)"
            )
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        k = int(n * holdout)
        test, train = perm[:k], perm[k:]
        self._solve(x[train], xy[train])
        err = (self(x[test]).double() - xy[test]).norm(dim=1)
        self._solve(x, xy)
        return {
            "table_fit_rows": float(n),
            "table_fit_terms": float(self.coef.shape[0]),
            "table_fit_heldout_median_m": float(err.median()) if k else float("nan"),
            "table_fit_heldout_p90_m": float(err.quantile(0.9)) if k else float("nan"),
        }

    def _solve(self, x: torch.Tensor, xy: torch.Tensor) -> None:
        a = polynomial_terms(x)
        gram = a.T @ a
        gram += RIDGE * gram.diagonal().mean() * torch.eye(gram.shape[0], dtype=gram.dtype)
        self.coef.copy_(torch.linalg.solve(gram, a.T @ xy).to(self.coef.dtype))
        self.fitted.fill_(True)
