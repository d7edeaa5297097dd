"""trustees sign their announcements and endorse the joint key with their certificate

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("trustees", sa.Column("announcement_signature", sa.Text(), nullable=True))
    op.add_column("trustees", sa.Column("endorsement", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("trustees", "endorsement")
    op.drop_column("trustees", "announcement_signature")
