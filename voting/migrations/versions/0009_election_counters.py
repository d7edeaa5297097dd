"""the roll's size and the ballots cast and superseded, kept on the election's
row in the transactions that change them, so that the status every voter reads
costs the same at 2,000 and at 100,000 voters (docs/loadtest.md)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COUNTERS = ("roll_size", "ballots_cast", "ballots_superseded")


def upgrade() -> None:
    with op.batch_alter_table("elections") as batch:
        for name in COUNTERS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    # The elections that exist: counted once, here.
    op.execute(
        "UPDATE elections SET "
        "roll_size = (SELECT count(*) FROM roll WHERE roll.election_id = elections.id), "
        "ballots_cast = (SELECT count(*) FROM ballots WHERE ballots.election_id = elections.id), "
        "ballots_superseded = (SELECT count(*) FROM ballots WHERE ballots.election_id = elections.id AND ballots.superseded)"
    )


def downgrade() -> None:
    with op.batch_alter_table("elections") as batch:
        for name in COUNTERS:
            batch.drop_column(name)
