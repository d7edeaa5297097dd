"""card enrollment: one-time enrollment codes and the links from card
certificates (of a trust anchor whose certificates name no employee) to employees

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New tables only: nothing existing is rebuilt, on SQLite or PostgreSQL.
    op.create_table(
        "enrollment_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("employee_id", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_enrollment_codes_employee_id", "enrollment_codes", ["employee_id"])
    op.create_table(
        "enrollments",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("employee_id", sa.String(64), nullable=False),
        sa.Column("anchor", sa.String(64), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("chain", sa.Text(), nullable=False),
        sa.Column("proof", sa.Text(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_enrollments_employee_id", "enrollments", ["employee_id"])


def downgrade() -> None:
    op.drop_index("ix_enrollments_employee_id", table_name="enrollments")
    op.drop_table("enrollments")
    op.drop_index("ix_enrollment_codes_employee_id", table_name="enrollment_codes")
    op.drop_table("enrollment_codes")
