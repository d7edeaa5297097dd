"""index the roll by employee (the roles of every authenticated request)

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_roll_employee_id", "roll", ["employee_id"])


def downgrade() -> None:
    op.drop_index("ix_roll_employee_id", table_name="roll")
