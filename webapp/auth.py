"""Staff sign-in: password, then a two-factor code for officials and admins; sign-out."""
from __future__ import annotations

import time
from urllib.parse import urlparse

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import PasswordField, StringField

from ingest.errors import Message
from webapp import accounts, qr
from webapp.extensions import db, limiter
from webapp.i18n import t
from webapp.models import User
from webapp.roles import ANYONE, STAFF_ROLES, TWO_FACTOR_ROLES, Role, allow

bp = Blueprint("auth", __name__, template_folder="templates")

PENDING_SECONDS = 300  # between a right password and its second factor
WRONG_CREDENTIALS = Message("Wrong username or password.", "Sai tên đăng nhập hoặc mật khẩu.")
WRONG_CODE = Message("That code is not right; use the newest one from your app.",
                     "Mã không đúng; hãy dùng mã mới nhất trong ứng dụng xác thực.")
LOGIN_RATE = "10/minute"
HOME_BY_ROLE = {Role.OFFICER: "checkpoint.stations", Role.VENUE_MANAGER: "checkpoint.stations"}


class LoginForm(FlaskForm):
    username = StringField()
    password = PasswordField()


class CodeForm(FlaskForm):
    code = StringField()


def _username_key() -> str:
    return f"login:{(request.form.get('username') or '').strip().lower()[:64]}"


@bp.route("/dang-nhap", methods=["GET", "POST"])
@allow(ANYONE)
@limiter.limit(LOGIN_RATE, methods=["POST"])
@limiter.limit(LOGIN_RATE, methods=["POST"], key_func=_username_key)
def login():
    """Who: anyone (staff sign in here)."""
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = accounts.authenticate((form.username.data or "").strip().lower(), form.password.data or "")
        if user is None:
            error = t(WRONG_CREDENTIALS)
        elif user.role in TWO_FACTOR_ROLES:
            session.clear()  # a new session: nothing from before the password carries over
            session["pending_user"] = user.id
            session["pending_since"] = time.time()
            session["next"] = _safe_next()
            return redirect(url_for(".second_factor"))
        else:
            return _signed_in(user, _safe_next())
    return render_template("auth/login.html", form=form, error=error), 401 if error else 200


@bp.route("/dang-nhap/ma-xac-thuc", methods=["GET", "POST"])
@allow(ANYONE)
@limiter.limit(LOGIN_RATE, methods=["POST"])
def second_factor():
    """Who: anyone who just gave a right password for an account that needs a second factor."""
    user = _pending_user()
    if user is None:
        return redirect(url_for(".login"))
    form = CodeForm()
    enrolling = user.totp_secret is None
    if enrolling:
        session.setdefault("enrol_secret", accounts.new_totp_secret())
    secret = user.totp_secret or session["enrol_secret"]
    error = None
    if form.validate_on_submit():
        if accounts.totp_matches(secret, form.code.data or ""):
            if enrolling:
                accounts.enrol_totp(user, secret)
            return _signed_in(user, session.get("next"))
        error = t(WRONG_CODE)
    enrolment = None
    if enrolling:
        uri = accounts.totp_uri(user, secret)
        enrolment = {"qr": Markup(qr.svg(uri)), "secret": secret}
    return render_template("auth/second_factor.html", form=form, error=error, enrolment=enrolment), \
        401 if error else 200


@bp.post("/dang-xuat")
@allow(*STAFF_ROLES)
def logout():
    """Who: any signed-in staff user."""
    logout_user()
    session.clear()
    return redirect(url_for(".login"))


def _signed_in(user: User, next_url: str | None):
    session.clear()
    login_user(user)
    return redirect(next_url or url_for(HOME_BY_ROLE.get(Role(user.role), "home.index")))


def _pending_user() -> User | None:
    user_id, since = session.get("pending_user"), session.get("pending_since", 0)
    if user_id is None or time.time() - since > PENDING_SECONDS:
        return None
    return db.session.get(User, user_id)


def _safe_next() -> str | None:
    """Only a path on this site: ``next=//evil.example`` must not send anyone away."""
    target = request.args.get("next") or ""
    parsed = urlparse(target)
    if target.startswith("/") and not target.startswith("//") and not parsed.netloc and "\\" not in target:
        return target
    return None
