"""readout_sets: no bound for a censored set with a limit not recorded

``readout_sets.censor_limit`` was the largest value of a set's censored replicates, whatever
their side of the limit, and ignored a censored replicate whose limit was not recorded
(``<LOD`` without an ``lod``: no value). A set holding ``<LOD`` with lod 50 and ``<LOD``
without one got the bound 50, though its true value is below a limit nobody knows. It is now
the bound of the domain's rule (exolab.domain.replicates.set_limit, docs/longitudinal.md):
the highest limit when every censored replicate is below a recorded limit, the lowest when
every one is above a recorded limit, NULL otherwise (a limit not recorded, or both sides).

Upgrading recomputes the bound of every set with a censored replicate from its readouts;
downgrading puts the earlier rule's value back the same way, so each revision's code finds
the values it writes itself. Sets without a censored replicate (NULL either way) are left
alone; the table's columns do not change.

Revision ID: 0016_readout_set_limits
Revises: 0015_shipment_origin
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_readout_set_limits"
down_revision: str | None = "0015_shipment_origin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rules spelled out here (a migration must not change when the code does): the bound as
# exolab.services.readout_sets.LIMIT_SQL computes it, and the earlier one.
_ABOVE = (
    "(SUBSTR(r.comparator, 1, 1) = '>' "
    "OR (r.censor = 'gt_uloq' AND SUBSTR(r.comparator, 1, 1) <> '<'))"
)
_BELOW_LIMIT = f"CASE WHEN r.censor <> 'none' AND NOT {_ABOVE} THEN r.value END"
_ABOVE_LIMIT = f"CASE WHEN r.censor <> 'none' AND {_ABOVE} THEN r.value END"
_N_CENSORED = "SUM(CASE WHEN r.censor <> 'none' THEN 1 ELSE 0 END)"
BOUND = (
    f"CASE WHEN {_N_CENSORED} = COUNT({_BELOW_LIMIT}) THEN MAX({_BELOW_LIMIT}) "
    f"WHEN {_N_CENSORED} = COUNT({_ABOVE_LIMIT}) THEN MIN({_ABOVE_LIMIT}) END"
)
EARLIER = "MAX(CASE WHEN r.censor <> 'none' THEN r.value END)"

# A set's readouts: its sample, analyte, isolation (or none), assay, run and unit.
_OF_SET = (
    "FROM readouts r WHERE r.sample_id = readout_sets.sample_id "
    "AND r.analyte_id = readout_sets.analyte_id "
    "AND (r.isolation_id = readout_sets.isolation_id "
    "OR (r.isolation_id IS NULL AND readout_sets.isolation_id IS NULL)) "
    "AND r.assay = readout_sets.assay AND r.run_code = readout_sets.run_code "
    "AND r.unit = readout_sets.unit"
)


def _recompute(bound: str) -> None:
    op.execute(
        f"UPDATE readout_sets SET censor_limit = (SELECT {bound} {_OF_SET}) WHERE n_censored > 0"
    )


def upgrade() -> None:
    _recompute(BOUND)


def downgrade() -> None:
    _recompute(EARLIER)
