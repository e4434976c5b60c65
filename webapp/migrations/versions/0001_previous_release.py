"""The schema of the release before migrations (git 1f90d9f), as its create_all made it.

The tables are declared here as that release's models declared them, so the names create_all
gave indexes and constraints are the same, and webapp.schema.adopt_unversioned can check a
database that release made against :data:`PREVIOUS_RELEASE` before stamping it. With them, the
read audit's append-only triggers as that release created them (0002 replaces them).

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PREVIOUS_RELEASE = sa.MetaData()
sa.Table(
    "citizens", PREVIOUS_RELEASE,
    sa.Column("citizen_id", sa.String(12), primary_key=True),
    sa.Column("cmnd", sa.String(9), index=True),
    sa.Column("full_name", sa.String(80), nullable=False),
    sa.Column("date_of_birth", sa.Date, nullable=False),
    sa.Column("sex", sa.String(6), nullable=False),
    sa.Column("province_code", sa.Integer, nullable=False),
    sa.Column("ward_code", sa.Integer, nullable=False),
    sa.Column("phone", sa.String(11), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "declarations", PREVIOUS_RELEASE,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("declared_by_id", sa.String(32), sa.ForeignKey("declarations.id"), index=True),
    sa.Column("relation", sa.String(12)),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("id_number", sa.String(12), nullable=False),
    sa.Column("citizen_id", sa.String(12), index=True),
    sa.Column("full_name", sa.String(80), nullable=False),
    sa.Column("date_of_birth", sa.Date, nullable=False),
    sa.Column("sex", sa.String(6), nullable=False),
    sa.Column("phone", sa.String(11), nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("verification", sa.String(8), nullable=False),
    sa.Column("mismatched_fields", sa.JSON, nullable=False),
    sa.Column("qr_ref", sa.String(32), nullable=False, unique=True),
    sa.Column("qr_token", sa.String(255), nullable=False),
    sa.Column("qr_expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("idempotency_key", sa.String(64), unique=True),
    sa.Column("request_hash", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Index("ix_declarations_lookup", "id_number", "phone", "created_at"),
)
sa.Table(
    "outbox", PREVIOUS_RELEASE,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("topic", sa.String(100), nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_until", sa.DateTime(timezone=True)),
    sa.Column("claim", sa.String(16), index=True),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Index("ix_outbox_pending", "published_at", "id"),
)
sa.Table(
    "places", PREVIOUS_RELEASE,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("province_code", sa.Integer, nullable=False),
    sa.Column("ward_code", sa.Integer),
    sa.Column("latitude", sa.Float),
    sa.Column("longitude", sa.Float),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "users", PREVIOUS_RELEASE,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("full_name", sa.String(80), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("totp_secret", sa.String(64)),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("areas", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "user_places", PREVIOUS_RELEASE,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("place_code", sa.String(64), sa.ForeignKey("places.code", ondelete="CASCADE"), primary_key=True),
)
sa.Table(
    "station_tokens", PREVIOUS_RELEASE,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("place_code", sa.String(64), sa.ForeignKey("places.code"), nullable=False, index=True),
    sa.Column("label", sa.String(80), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)
sa.Table(
    "checkpoint_decisions", PREVIOUS_RELEASE,
    sa.Column("event_id", sa.String(32), primary_key=True),
    sa.Column("place_code", sa.String(64), sa.ForeignKey("places.code"), nullable=False, index=True),
    sa.Column("citizen_id", sa.String(12), nullable=False, index=True),
    sa.Column("declaration_id", sa.String(32)),
    sa.Column("action", sa.String(10), nullable=False),
    sa.Column("reason", sa.String(200)),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("station_id", sa.Integer, sa.ForeignKey("station_tokens.id")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "cases", PREVIOUS_RELEASE,
    sa.Column("case_id", sa.String(32), primary_key=True),
    sa.Column("citizen_id", sa.String(12), nullable=False),
    sa.Column("date_kind", sa.String(6), nullable=False),
    sa.Column("case_date", sa.Date, nullable=False),
    sa.Column("isolated_at", sa.DateTime(timezone=True)),
    sa.Column("reported_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("citizen_id", "case_date", name="uq_cases_citizen_date"),
)
sa.Table(
    "read_audit", PREVIOUS_RELEASE,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("user_id", sa.Integer),
    sa.Column("username", sa.String(64), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("what", sa.String(16), nullable=False),
    sa.Column("subject", sa.String(64), nullable=False, index=True),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("reason", sa.String(206), nullable=False),
    sa.Column("previous_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("entry_hash", sa.String(64), nullable=False),
)

REFUSED = "read_audit is append-only"
READ_AUDIT_TRIGGERS = {
    "sqlite": [
        f"CREATE TRIGGER read_audit_no_update BEFORE UPDATE ON read_audit BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END",
        f"CREATE TRIGGER read_audit_no_delete BEFORE DELETE ON read_audit BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION read_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"RAISE EXCEPTION '{REFUSED}: % refused', TG_OP USING ERRCODE = 'restrict_violation'; END $$",
        "CREATE TRIGGER read_audit_no_change BEFORE UPDATE OR DELETE ON read_audit FOR EACH ROW "
        "EXECUTE FUNCTION read_audit_refuse()",
        "CREATE TRIGGER read_audit_no_truncate BEFORE TRUNCATE ON read_audit FOR EACH STATEMENT "
        "EXECUTE FUNCTION read_audit_refuse()",
    ],
}


def upgrade() -> None:
    bind = op.get_bind()
    PREVIOUS_RELEASE.create_all(bind, checkfirst=False)
    for statement in READ_AUDIT_TRIGGERS.get(bind.dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    PREVIOUS_RELEASE.drop_all(bind, checkfirst=False)  # the triggers go with read_audit
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS read_audit_refuse()")
