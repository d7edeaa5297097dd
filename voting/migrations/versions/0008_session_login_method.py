"""how a session logged in: a signed login token, or a TLS client certificate
passed on by the reverse proxy (a browser with a card)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One column with a default: every existing session logged in with a token.
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("login_method", sa.String(32), nullable=False, server_default="token"))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("login_method")
