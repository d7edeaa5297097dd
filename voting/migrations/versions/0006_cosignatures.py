"""witnesses' cosignatures on the signed tree heads (issue 12)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new table: nothing existing is rebuilt, on SQLite or PostgreSQL.
    op.create_table(
        "cosignatures",
        sa.Column("election_id", sa.String(64), sa.ForeignKey("elections.id"), primary_key=True),
        sa.Column("size", sa.BigInteger(), primary_key=True),
        sa.Column("witness_key", sa.LargeBinary(32), primary_key=True),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
        sa.ForeignKeyConstraint(["election_id", "size"], ["tree_heads.election_id", "tree_heads.size"]),
    )
    op.create_index("ix_cosignatures_witness", "cosignatures", ["election_id", "witness_key", "size"])


def downgrade() -> None:
    op.drop_index("ix_cosignatures_witness", table_name="cosignatures")
    op.drop_table("cosignatures")
