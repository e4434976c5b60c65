"""Personal QR tokens: signing, offline verification, key rotation and the public key document."""
from __future__ import annotations

import base64
import json
import struct
from datetime import datetime, timedelta, timezone

import pytest
import segno

from ingest.errors import IngestError, InvalidKeyMaterial, InvalidToken
from ingest.qrtoken import (
    CLOCK_SKEW, DEFAULT_TTL, Signer, SigningKey, TokenClaims, load_public_keys, new_subject_ref,
    parse_key_setting, public_key_document, verify,
)

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc)
# RFC 8032 test 1 secret key, so key ids and tokens are reproducible.
SEED = base64.urlsafe_b64encode(bytes.fromhex(
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")).decode().rstrip("=")


def make_signer(*kids: str) -> Signer:
    """A signer with one fresh key per kid, oldest first."""
    return Signer(tuple(SigningKey.generate(kid) for kid in kids or ("k1",)))


def b32decode(text: str) -> bytes:
    return base64.b32decode(text + "=" * (-len(text) % 8))


def b32encode(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=")


def reason_of(token: object, public_keys, now: datetime = NOW) -> str:
    with pytest.raises(InvalidToken) as caught:
        verify(token, public_keys, now=now)  # type: ignore[arg-type]
    return caught.value.reason


def test_round_trip() -> None:
    signer = make_signer("k1")
    ref = new_subject_ref()
    claims = verify(signer.issue(ref, now=NOW), signer.public_keys(), now=NOW)
    assert claims == TokenClaims(1, "k1", ref, NOW, NOW + timedelta(hours=72))


def test_default_ttl_is_72_hours_and_configurable() -> None:
    signer = make_signer()
    ref = new_subject_ref()
    assert DEFAULT_TTL == timedelta(hours=72)
    claims = verify(signer.issue(ref, now=NOW, ttl=timedelta(hours=1)), signer.public_keys(), now=NOW)
    assert claims.expires_at - claims.issued_at == timedelta(hours=1)


def test_token_holds_only_the_documented_claims() -> None:
    signer = make_signer("k1")
    ref = new_subject_ref()
    payload_text, signature_text = signer.issue(ref, now=NOW).split(".")
    payload = b32decode(payload_text)
    # Decode by the documented layout, independently of the module: nothing is left over.
    version, kid_len = payload[0], payload[1]
    kid = payload[2:2 + kid_len]
    subject = payload[2 + kid_len:2 + kid_len + 16]
    iat, exp = struct.unpack(">II", payload[2 + kid_len + 16:])
    assert (version, kid, subject.hex()) == (1, b"k1", ref)
    assert (iat, exp) == (int(NOW.timestamp()), int((NOW + DEFAULT_TTL).timestamp()))
    assert len(b32decode(signature_text)) == 64


def test_subject_ref_is_random_and_never_a_citizen_id() -> None:
    refs = {new_subject_ref() for _ in range(1000)}
    assert len(refs) == 1000
    assert all(len(ref) == 32 for ref in refs)
    with pytest.raises(ValueError):
        make_signer().issue("001090000001", now=NOW)


def test_short_enough_for_a_small_qr_code() -> None:
    token = Signer((SigningKey.generate(),)).issue(new_subject_ref(), now=NOW)  # 8-char kid
    symbol = segno.make(token, error="m", micro=False)
    assert symbol.mode == "alphanumeric"
    assert symbol.version <= 10
    # The module docstring's measurement; a regression here means a bigger printed code.
    assert symbol.version == 7


def test_valid_until_exactly_the_expiry_boundary() -> None:
    signer = make_signer()
    token = signer.issue(new_subject_ref(), now=NOW)
    keys = signer.public_keys()
    boundary = NOW + DEFAULT_TTL + CLOCK_SKEW
    assert verify(token, keys, now=boundary - timedelta(seconds=1))
    assert reason_of(token, keys, now=boundary) == "expired"
    # Without clock skew the boundary is exp itself.
    exp = NOW + DEFAULT_TTL
    assert verify(token, keys, now=exp - timedelta(seconds=1), leeway=timedelta(0))
    with pytest.raises(InvalidToken, match="expired"):
        verify(token, keys, now=exp, leeway=timedelta(0))


def test_not_yet_valid_beyond_clock_skew() -> None:
    signer = make_signer()
    token = signer.issue(new_subject_ref(), now=NOW)
    keys = signer.public_keys()
    assert verify(token, keys, now=NOW - CLOCK_SKEW)
    assert reason_of(token, keys, now=NOW - CLOCK_SKEW - timedelta(seconds=1)) == "not_yet_valid"


def test_tampered_payload_is_a_bad_signature() -> None:
    signer = make_signer()
    payload_text, signature_text = signer.issue(new_subject_ref(), now=NOW).split(".")
    payload = bytearray(b32decode(payload_text))
    payload[-1] ^= 0x01  # one second more validity
    forged = b32encode(bytes(payload)) + "." + signature_text
    assert reason_of(forged, signer.public_keys()) == "bad_signature"
    payload[-1] ^= 0x01
    payload[5] ^= 0x80  # someone else's subject reference
    forged = b32encode(bytes(payload)) + "." + signature_text
    assert reason_of(forged, signer.public_keys()) == "bad_signature"


def test_tampered_signature_is_a_bad_signature() -> None:
    signer = make_signer()
    payload_text, signature_text = signer.issue(new_subject_ref(), now=NOW).split(".")
    signature = bytearray(b32decode(signature_text))
    signature[10] ^= 0x04
    assert reason_of(payload_text + "." + b32encode(bytes(signature)), signer.public_keys()) \
        == "bad_signature"


def test_signature_from_another_key_with_the_same_kid() -> None:
    genuine, impostor = make_signer("k1"), make_signer("k1")
    token = impostor.issue(new_subject_ref(), now=NOW)
    assert reason_of(token, genuine.public_keys()) == "bad_signature"


def test_unknown_kid() -> None:
    token = make_signer("k9").issue(new_subject_ref(), now=NOW)
    assert reason_of(token, make_signer("k1").public_keys()) == "unknown_key"
    assert reason_of(token, {}) == "unknown_key"


def test_rotation() -> None:
    old_key, new_key = SigningKey.generate("2026a"), SigningKey.generate("2026b")
    before = Signer((old_key,))
    old_token = before.issue(new_subject_ref(), now=NOW)

    during = Signer((old_key, new_key))
    new_token = during.issue(new_subject_ref(), now=NOW)
    assert verify(new_token, during.public_keys(), now=NOW).kid == "2026b"
    assert verify(old_token, during.public_keys(), now=NOW).kid == "2026a"

    after = Signer((new_key,))
    assert reason_of(old_token, after.public_keys()) == "unknown_key"
    assert verify(new_token, after.public_keys(), now=NOW).kid == "2026b"


def test_key_document_round_trip() -> None:
    signer = make_signer("2026a", "2026b")
    document = public_key_document(signer.public_keys())
    assert [key["kid"] for key in document["keys"]] == ["2026a", "2026b"]
    for key in document["keys"]:
        assert set(key) == {"kty", "crv", "x", "kid", "use", "alg"}
        assert (key["kty"], key["crv"], key["use"], key["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
        assert "=" not in key["x"]

    # A checkpoint device downloads the JSON and verifies with nothing else.
    downloaded = load_public_keys(json.dumps(document).encode())
    token = signer.issue(new_subject_ref(), now=NOW)
    assert verify(token, downloaded, now=NOW).kid == "2026b"
    assert public_key_document(downloaded) == document


def test_key_document_skips_foreign_keys_and_refuses_broken_ones() -> None:
    document = public_key_document(make_signer("k1").public_keys())
    document["keys"].append({"kty": "RSA", "kid": "rsa1", "n": "AQAB", "e": "AQAB"})
    assert list(load_public_keys(document)) == ["k1"]

    broken = json.loads(json.dumps(document))
    broken["keys"][0]["x"] = "tooShort"
    for bad in (broken, {"keys": "none"}, {}, "not json", [1, 2]):
        with pytest.raises(InvalidKeyMaterial):
            load_public_keys(bad)  # type: ignore[arg-type]
    twice = {"keys": document["keys"][:1] * 2}
    with pytest.raises(InvalidKeyMaterial, match="twice"):
        load_public_keys(twice)


@pytest.mark.parametrize("token", [
    "", "   ", "garbage", "a.b.c", "..", ".", "ABC.", ".ABC",
    "!!!!.????", "AEBAG===.AEBAG", "AEBAG-.AEBAG", "tête.à",
    "AE.AEBAGBAF",  # valid base32, far too short
])
def test_malformed_inputs(token: str) -> None:
    assert reason_of(token, make_signer().public_keys()) == "malformed"


def test_malformed_structure_of_a_real_token() -> None:
    signer = make_signer()
    keys = signer.public_keys()
    token = signer.issue(new_subject_ref(), now=NOW)
    payload_text, signature_text = token.split(".")
    assert reason_of(token + ".", keys) == "malformed"
    assert reason_of(token + "." + signature_text, keys) == "malformed"
    assert reason_of(payload_text + "." + signature_text[:-2], keys) == "malformed"
    assert reason_of(payload_text[:-1] + "." + signature_text, keys) == "malformed"
    payload = bytearray(b32decode(payload_text))
    payload[0] = 2  # a version this code does not know
    assert reason_of(b32encode(bytes(payload)) + "." + signature_text, keys) == "malformed"
    assert reason_of(None, keys) == "malformed"
    assert reason_of(token.encode(), keys) == "malformed"


def test_scanner_noise_is_tolerated() -> None:
    signer = make_signer()
    token = signer.issue(new_subject_ref(), now=NOW)
    # Keyboard-wedge scanners send Enter after the code and may flip case under Caps Lock.
    assert verify(token.lower() + "\r\n", signer.public_keys(), now=NOW)


def test_invalid_token_is_an_ingest_error_with_a_reason() -> None:
    error = InvalidToken(InvalidToken.EXPIRED, "past its expiry")
    assert isinstance(error, IngestError)
    assert error.reason == "expired"
    with pytest.raises(ValueError):
        InvalidToken("nope")


def test_key_material_loading_and_secrets_out_of_repr() -> None:
    key = SigningKey.from_seed(SEED)
    assert key.kid == SigningKey.from_seed(SEED).kid  # derived from the public key
    assert SigningKey.from_seed(key.export_seed()).kid == key.kid
    assert SigningKey.from_seed(SEED, kid="prod-1").kid == "prod-1"
    for text in (repr(key), str(key), repr(Signer((key,)))):
        assert SEED not in text and "private" not in text

    from cryptography.hazmat.primitives import serialization
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert SigningKey.from_pem(pem.decode()).export_seed() == SEED

    for bad in ("", "not base64!", SEED[:-4]):
        with pytest.raises(InvalidKeyMaterial) as caught:
            SigningKey.from_seed(bad)
        assert SEED not in str(caught.value)
    with pytest.raises(InvalidKeyMaterial):
        SigningKey.from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InvalidKeyMaterial):
        SigningKey.from_seed(SEED, kid="has space")


def test_key_setting_lists_keys_oldest_first() -> None:
    other = SigningKey.generate()
    signer = Signer.from_setting(f" old:{SEED},\n{other.export_seed()} ")
    assert [key.kid for key in signer.keys] == ["old", other.kid]
    assert signer.current.kid == other.kid
    assert len(parse_key_setting(SEED)) == 1
    with pytest.raises(InvalidKeyMaterial):
        parse_key_setting("  ")
    with pytest.raises(InvalidKeyMaterial, match="duplicate"):
        Signer.from_setting(f"a:{SEED} a:{other.export_seed()}")


def test_times_must_be_timezone_aware_and_ttl_positive() -> None:
    signer = make_signer()
    with pytest.raises(ValueError):
        signer.issue(new_subject_ref(), now=datetime(2026, 11, 28, 8, 0))
    with pytest.raises(ValueError):
        signer.issue(new_subject_ref(), now=NOW, ttl=timedelta(0))


def test_a_trailing_newline_is_not_part_of_a_valid_kid_or_subject() -> None:
    # ``$`` matches before a final newline; such a kid would be published and never match a token.
    with pytest.raises(InvalidKeyMaterial):
        SigningKey.from_seed(SEED, kid="prod-1\n")
    document = public_key_document(make_signer("k1").public_keys())
    document["keys"][0]["kid"] = "k1\n"
    with pytest.raises(InvalidKeyMaterial):
        load_public_keys(document)
    with pytest.raises(ValueError):
        make_signer().issue(new_subject_ref() + "\n", now=NOW)
