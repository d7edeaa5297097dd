"""the newest CRL seen from each CA (a CRL never goes back in time)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crl_state",
        sa.Column("issuer", sa.String(64), primary_key=True),
        sa.Column("issuer_name", sa.Text(), nullable=False),
        sa.Column("sort_key", sa.String(80), nullable=False),
        sa.Column("crl", sa.LargeBinary(), nullable=False),
        sa.Column("signer", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("crl_state")
