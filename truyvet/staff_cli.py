"""``truyvet user …``, ``station …`` and ``declaration revoke``: who may scan, and what may pass."""
from __future__ import annotations

import click

from truyvet.cliapp import registry


@click.group()
def user() -> None:
    """Staff accounts: officers, venue managers, officials, ops, admins."""


@user.command("add")
@click.argument("username")
@click.option("--role", required=True,
              type=click.Choice(["officer", "venue_manager", "official", "ward_staff", "ops", "admin"]))
@click.option("--full-name", required=True)
@click.option("--place", "places", multiple=True, help="A place code (officers, venue managers); repeat.")
@click.option("--area", "areas", multiple=True, help="A province code, or province:ward (officials; ward staff: wards only); repeat.")
@click.password_option(help="At least 12 characters (prompted when not given).")
def user_add(username: str, role: str, full_name: str, places: tuple[str, ...], areas: tuple[str, ...],
             password: str) -> None:
    """Add a staff account. Officials and admins enrol a second factor at their first sign-in."""
    from webapp.accounts import AccountError, create_user

    with registry():
        try:
            created = create_user(username, full_name, role, password, places=places, areas=areas)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"user {created.username} ({created.role}) added")


@user.command("list")
def user_list() -> None:
    """List accounts: username, role, state, places or areas."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import User

    with registry():
        for account in db.session.scalars(select(User).order_by(User.username)):
            bound = ",".join(sorted(account.place_codes)) or ",".join(account.areas or ()) or "-"
            state = "active" if account.active else "disabled"
            two_factor = "2fa" if account.totp_secret else "-"
            click.echo(f"{account.username}\t{account.role}\t{state}\t{two_factor}\t{bound}")


@user.command("disable")
@click.argument("username")
def user_disable(username: str) -> None:
    """Disable an account: its sessions stop working at their next request."""
    from webapp.accounts import AccountError, disable_user

    with registry():
        try:
            disable_user(username)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"user {username} disabled")


@click.group()
def station() -> None:
    """Station devices: a revocable token per device, bound to one place."""


@station.command("add")
@click.argument("place_code")
@click.option("--label", required=True, help="Which device, e.g. 'Pháp Vân gate, lane 2'.")
def station_add(place_code: str, label: str) -> None:
    """Issue a token for a device at PLACE_CODE; it is shown once and kept only as a hash."""
    from webapp.accounts import AccountError, issue_station_token

    with registry():
        try:
            issued, token = issue_station_token(place_code, label)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"station {issued.id} at {place_code}: {token}")
        click.echo("Keep this token on the device; it will not be shown again.", err=True)


@station.command("list")
def station_list() -> None:
    """List station tokens (never the tokens themselves)."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import StationToken

    with registry():
        for issued in db.session.scalars(select(StationToken).order_by(StationToken.id)):
            state = f"revoked {issued.revoked_at:%Y-%m-%d}" if issued.revoked_at else "active"
            click.echo(f"{issued.id}\t{issued.place_code}\t{state}\t{issued.label}")


@station.command("revoke")
@click.argument("token_id", type=int)
def station_revoke(token_id: int) -> None:
    """Revoke a station token at once."""
    from webapp.accounts import AccountError, revoke_station_token

    with registry():
        try:
            revoke_station_token(token_id)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"station {token_id} revoked")


@click.group()
def declaration() -> None:
    """Health declarations: revoke one whose QR code must no longer pass (lost phone, fraud)."""


@declaration.command("revoke")
@click.argument("declaration_id")
def declaration_revoke(declaration_id: str) -> None:
    """Revoke a declaration: checkpoints refuse its QR code from the next scan on ("revoked")."""
    from webapp.extensions import db
    from webapp.models import Declaration, utcnow

    with registry():
        found = db.session.get(Declaration, declaration_id)
        if found is None:
            raise click.ClickException(f"no declaration {declaration_id}")
        found.revoked_at = found.revoked_at or utcnow()
        db.session.commit()
        click.echo(f"declaration {declaration_id} revoked")
