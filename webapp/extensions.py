"""The Flask extensions, created unbound and bound to each app by ``create_app``."""
from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

class Base(DeclarativeBase):
    pass


# Rows just committed are answered from memory: re-reading each one after the commit cost a
# SELECT per declaration (bench/declarations.py).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
csrf = CSRFProtect()
limiter = Limiter(get_remote_address)
