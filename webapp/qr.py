"""Personal QR codes: the signing keys of this deployment and the printable images."""
from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import segno
from flask import Flask, current_app

from config import Settings
from ingest.qrtoken import SigningKey, Signer

log = logging.getLogger(__name__)

PRINT_SIZE_MM = 50  # printable at 5 x 5 cm, quiet zone included
PRINT_DPI = 300
ERROR_CORRECTION = "m"  # survives a crease or a wet phone screen, keeps the symbol small
DEV_KEY_FILE = "qr-signing-key"


def init_app(app: Flask, settings: Settings) -> None:
    setting = settings.qr_signing_keys or _development_key(settings.data_dir)
    app.extensions["truyvet.qr_signer"] = Signer.from_setting(setting)


def get_signer() -> Signer:
    return current_app.extensions["truyvet.qr_signer"]


def svg(token: str) -> str:
    """An inline SVG that prints at 5 x 5 cm; the encoder picks the compact alphanumeric mode."""
    code = segno.make(token, error=ERROR_CORRECTION, micro=False)
    width, _ = code.symbol_size(scale=1)
    return code.svg_inline(scale=PRINT_SIZE_MM / width, unit="mm", svgclass="personal-qr", omitsize=False)


def png(token: str) -> bytes:
    """A PNG with 300 dpi metadata, so printing it at its own size gives about 5 x 5 cm."""
    code = segno.make(token, error=ERROR_CORRECTION, micro=False)
    width, _ = code.symbol_size(scale=1)
    pixels = PRINT_SIZE_MM / 25.4 * PRINT_DPI
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=max(1, round(pixels / width)), dpi=PRINT_DPI)
    return buffer.getvalue()


def _development_key(data_dir: Path) -> str:
    """A key kept in the data directory, so tokens outlive a restart of `truyvet run`.

    Production sets TRUYVET_QR_SIGNING_KEYS instead; several processes share this file.
    """
    path = data_dir / DEV_KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = SigningKey.generate()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"{key.kid}:{key.export_seed()}\n")
    log.warning("no TRUYVET_QR_SIGNING_KEYS: generated a development key in %s", path)
    return f"{key.kid}:{key.export_seed()}"
