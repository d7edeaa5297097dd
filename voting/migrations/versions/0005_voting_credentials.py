"""per-election voting credentials: the roll keeps each voter's registered
credential (unique per election) and its registration

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding nullable columns and a unique index needs no table rebuild, not even
    # on SQLite (NULLs are distinct in a unique index on both databases).
    op.add_column("roll", sa.Column("credential", sa.String(64), nullable=True))
    op.add_column("roll", sa.Column("registration", sa.Text(), nullable=True))
    op.create_index("ux_roll_credential", "roll", ["election_id", "credential"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_roll_credential", table_name="roll")
    with op.batch_alter_table("roll") as batch:  # SQLite drops columns by rebuilding the table
        batch.drop_column("registration")
        batch.drop_column("credential")
