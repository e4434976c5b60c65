"""This release: follow-up statuses, ward alert actions, citizens found by phone, the read audit's purge.

- ``follow_ups`` and ``alert_actions`` (the officials' workspace, issue 10);
- ``ix_citizens_phone`` (officials search people by phone);
- ``read_audit_anchors``, append-only, where the read audit's chain starts after a purge
  (issue 11), and the read audit's DELETE trigger replaced by one that lets through only the
  entries an anchor covers.

Databases that the unreleased issue-10 code made with ``create_all`` may already hold some of
these (adopted at 0001 by webapp.schema): what exists is left as it is, what is missing is
made. The trigger DDL is this revision's own copy of webapp/audit.py's: a released revision
never changes, whatever the models do later.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

REFUSED = "read_audit is append-only"
COVERED = "(SELECT coalesce(max(last_id), 0) FROM read_audit_anchors)"
BAD_ANCHOR = "a chain anchor names an existing entry by its hash, past the newest anchor"
TRIGGERS = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS read_audit_no_delete",
        f"CREATE TRIGGER read_audit_no_delete BEFORE DELETE ON read_audit WHEN OLD.id > {COVERED} "
        f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END",
        "DROP TRIGGER IF EXISTS read_audit_anchors_no_update",
        "CREATE TRIGGER read_audit_anchors_no_update BEFORE UPDATE ON read_audit_anchors "
        "BEGIN SELECT RAISE(ABORT, 'read_audit_anchors is append-only'); END",
        "DROP TRIGGER IF EXISTS read_audit_anchors_no_delete",
        "CREATE TRIGGER read_audit_anchors_no_delete BEFORE DELETE ON read_audit_anchors "
        "BEGIN SELECT RAISE(ABORT, 'read_audit_anchors is append-only'); END",
        "DROP TRIGGER IF EXISTS read_audit_anchors_check",
        "CREATE TRIGGER read_audit_anchors_check BEFORE INSERT ON read_audit_anchors WHEN NOT EXISTS "
        "(SELECT 1 FROM read_audit WHERE id = NEW.last_id AND entry_hash = NEW.entry_hash) "
        f"OR NEW.last_id <= {COVERED} BEGIN SELECT RAISE(ABORT, '{BAD_ANCHOR}'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION read_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF TG_TABLE_NAME = 'read_audit' AND TG_OP = 'DELETE' THEN "
        f"IF OLD.id <= {COVERED} THEN RETURN OLD; END IF; END IF; "
        "RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation'; "
        "END $$",
        "CREATE OR REPLACE FUNCTION read_audit_anchor_check() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NOT EXISTS (SELECT 1 FROM read_audit WHERE id = NEW.last_id AND entry_hash = NEW.entry_hash) "
        f"OR NEW.last_id <= {COVERED} THEN "
        f"RAISE EXCEPTION '{BAD_ANCHOR}' USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$",
        "DROP TRIGGER IF EXISTS read_audit_anchors_no_change ON read_audit_anchors",
        "CREATE TRIGGER read_audit_anchors_no_change BEFORE UPDATE OR DELETE ON read_audit_anchors "
        "FOR EACH ROW EXECUTE FUNCTION read_audit_refuse()",
        "DROP TRIGGER IF EXISTS read_audit_anchors_no_truncate ON read_audit_anchors",
        "CREATE TRIGGER read_audit_anchors_no_truncate BEFORE TRUNCATE ON read_audit_anchors "
        "FOR EACH STATEMENT EXECUTE FUNCTION read_audit_refuse()",
        "DROP TRIGGER IF EXISTS read_audit_anchors_check ON read_audit_anchors",
        "CREATE TRIGGER read_audit_anchors_check BEFORE INSERT ON read_audit_anchors FOR EACH ROW "
        "EXECUTE FUNCTION read_audit_anchor_check()",
    ],
}
# What 0001 made, for the way down.
PREVIOUS_TRIGGERS = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS read_audit_no_delete",
        f"CREATE TRIGGER read_audit_no_delete BEFORE DELETE ON read_audit BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION read_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"RAISE EXCEPTION '{REFUSED}: % refused', TG_OP USING ERRCODE = 'restrict_violation'; END $$",
        "DROP FUNCTION IF EXISTS read_audit_anchor_check()",
    ],
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    if "follow_ups" not in tables:
        op.create_table(
            "follow_ups",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("citizen_id", sa.String(length=12), nullable=False),
            sa.Column("status", sa.String(length=12), nullable=False),
            sa.Column("case_id", sa.String(length=32), nullable=True),
            sa.Column("note", sa.String(length=200), nullable=True),
            sa.Column("changed_by", sa.Integer(), nullable=False),
            sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(["changed_by"], ["users.id"]),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_follow_ups_person", "follow_ups", ["citizen_id", "id"], unique=False)
    if "alert_actions" not in tables:
        op.create_table(
            "alert_actions",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("alert_id", sa.String(length=64), nullable=False),
            sa.Column("ward_code", sa.Integer(), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("note", sa.String(length=200), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_alert_actions_alert_id", "alert_actions", ["alert_id"], unique=False)
    if "read_audit_anchors" not in tables:
        op.create_table(
            "read_audit_anchors",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("last_id", sa.Integer(), nullable=False),
            sa.Column("entry_hash", sa.String(length=64), nullable=False),
            sa.Column("removed", sa.Integer(), nullable=False),
            sa.Column("before", sa.DateTime(timezone=True), nullable=False),
            sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("purged_by", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("last_id"),
        )
    if "ix_citizens_phone" not in {index["name"] for index in inspector.get_indexes("citizens")}:
        op.create_index("ix_citizens_phone", "citizens", ["phone"], unique=False)
    for statement in TRIGGERS.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_citizens_phone", table_name="citizens")
    op.drop_table("read_audit_anchors")  # its triggers go with it
    op.drop_table("alert_actions")
    op.drop_table("follow_ups")
    for statement in PREVIOUS_TRIGGERS.get(op.get_bind().dialect.name, []):
        op.execute(statement)
