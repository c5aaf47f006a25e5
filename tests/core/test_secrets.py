"""Secret hides itself everywhere; SecretBox encrypts with rotating keys."""

from __future__ import annotations

import copy
import logging
import pickle
import traceback

import pytest
from cryptography.fernet import Fernet

from emisario.core.secrets import Secret, SecretBox, SecretKeyError, UndecryptableSecret

PASSWORD = "contraseña-Muy-Secreta-42"


def key() -> str:
    return SecretBox.generate_key()


# --- Secret --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "render",
    [
        repr,
        str,
        lambda s: f"{s}",
        lambda s: f"{s!r}",
        lambda s: "%s" % s,  # noqa: UP031 - the old formatting path is what logging uses
        lambda s: "{}".format(s),  # noqa: UP032
        lambda s: repr([s]),
        lambda s: repr({"password": s}),
        lambda s: repr((s,)),
    ],
    ids=["repr", "str", "fstring", "fstring-repr", "percent", "format", "list", "dict", "tuple"],
)
def test_secret_never_shows_itself(render):
    shown = render(Secret(PASSWORD))
    assert PASSWORD not in shown
    assert "********" in shown


def test_secret_is_hidden_from_logging(caplog):
    logger = logging.getLogger("emisario.test")
    with caplog.at_level(logging.DEBUG, logger="emisario.test"):
        secret = Secret(PASSWORD)
        logger.info("login with %s", secret)
        logger.info("account %r", {"password": secret})
        logger.info(f"login with {secret}")  # the careless way is safe too
    assert PASSWORD not in caplog.text
    assert all(PASSWORD not in record.getMessage() for record in caplog.records)


def test_secret_is_hidden_from_tracebacks():
    def fail(password):
        raise RuntimeError(f"authentication failed for {password}")

    try:
        fail(Secret(PASSWORD))
    except RuntimeError as exc:
        rendered = "".join(traceback.format_exception(exc))
    assert PASSWORD not in rendered


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1), ids=str)
def test_secret_cannot_be_pickled(protocol):
    with pytest.raises(TypeError):
        pickle.dumps(Secret(PASSWORD), protocol=protocol)


def test_secret_inside_a_structure_cannot_be_pickled():
    with pytest.raises(TypeError):
        pickle.dumps({"host": "smtp.gmail.com", "password": Secret(PASSWORD)})


def test_secret_cannot_be_deep_copied_into_plaintext():
    # copy uses __reduce_ex__ as well: refusing is fine, leaking is not
    try:
        copied = copy.deepcopy(Secret(PASSWORD))
    except TypeError:
        return
    assert PASSWORD not in repr(copied)


def test_secret_has_no_instance_dict():
    secret = Secret(PASSWORD)
    assert not hasattr(secret, "__dict__")
    assert PASSWORD not in repr(vars(type(secret)))


def test_secret_reveal_equality_and_truth():
    assert Secret(PASSWORD).reveal() == PASSWORD
    assert Secret(PASSWORD) == Secret(PASSWORD)
    assert Secret(PASSWORD) != Secret("other")
    assert Secret(PASSWORD) != PASSWORD  # never equal to the bare text
    assert hash(Secret(PASSWORD)) == hash(Secret(PASSWORD))
    assert Secret(PASSWORD)
    assert not Secret("")


# --- SecretBox -----------------------------------------------------------------------------


def test_round_trip():
    box = SecretBox([key()])
    token = box.encrypt(Secret(PASSWORD))
    assert PASSWORD not in token
    assert token.isascii()
    assert box.decrypt(token) == Secret(PASSWORD)


def test_each_encryption_differs():
    box = SecretBox([key()])
    assert box.encrypt(Secret(PASSWORD)) != box.encrypt(Secret(PASSWORD))


def test_empty_and_unicode_secrets_round_trip():
    box = SecretBox([key()])
    for value in ("", "ñandú—€😀", "x" * 10_000):
        assert box.decrypt(box.encrypt(Secret(value))).reveal() == value


def test_old_token_decrypts_after_a_new_key_is_put_first():
    old, new = key(), key()
    token = SecretBox([old]).encrypt(Secret(PASSWORD))
    rotated_box = SecretBox([new, old])
    assert rotated_box.decrypt(token).reveal() == PASSWORD


def test_rotate_re_encrypts_with_the_new_key():
    old, new = key(), key()
    token = SecretBox([old]).encrypt(Secret(PASSWORD))
    rotated = SecretBox([new, old]).rotate(token)
    assert rotated != token
    # the rotated token opens with the new key alone ...
    assert SecretBox([new]).decrypt(rotated).reveal() == PASSWORD
    assert Fernet(new.encode()).decrypt(rotated.encode()) == PASSWORD.encode()
    # ... and no longer with the old one
    with pytest.raises(UndecryptableSecret):
        SecretBox([old]).decrypt(rotated)


def test_new_tokens_use_the_first_key():
    old, new = key(), key()
    token = SecretBox([new, old]).encrypt(Secret(PASSWORD))
    assert SecretBox([new]).decrypt(token).reveal() == PASSWORD
    with pytest.raises(UndecryptableSecret):
        SecretBox([old]).decrypt(token)


def test_token_from_an_unknown_key_is_undecryptable():
    token = SecretBox([key()]).encrypt(Secret(PASSWORD))
    box = SecretBox([key(), key()])
    with pytest.raises(UndecryptableSecret) as caught:
        box.decrypt(token)
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    with pytest.raises(UndecryptableSecret):
        box.rotate(token)


@pytest.mark.parametrize(
    "token",
    ["", "not-a-token", "gAAAAA", "ñ", "gAAAAABk" + "A" * 100],
    ids=["empty", "garbage", "short", "non-ascii", "truncated"],
)
def test_garbage_tokens_are_undecryptable(token):
    box = SecretBox([key()])
    with pytest.raises(UndecryptableSecret):
        box.decrypt(token)
    with pytest.raises(UndecryptableSecret):
        box.rotate(token)


def test_tampered_token_is_undecryptable():
    box = SecretBox([key()])
    token = box.encrypt(Secret(PASSWORD))
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    with pytest.raises(UndecryptableSecret):
        box.decrypt(tampered)


@pytest.mark.parametrize(
    "keys", [[], [""], ["   "], [None]], ids=["none", "empty", "blank", "null"]
)
def test_missing_keys_raise_a_clear_error(keys):
    with pytest.raises(SecretKeyError, match="no encryption key is configured"):
        SecretBox(keys)


@pytest.mark.parametrize(
    ("keys", "position"),
    [
        (["not-a-key"], 1),
        ([Fernet.generate_key().decode(), "short"], 2),
        (["A" * 44], 1),  # right length, 33 bytes after decoding
    ],
    ids=["garbage", "second", "wrong-length"],
)
def test_bad_keys_raise_a_clear_error(keys, position):
    with pytest.raises(SecretKeyError) as caught:
        SecretBox(keys)
    message = str(caught.value)
    assert f"#{position}" in message
    assert "Fernet" in message
    assert all(k not in message for k in keys)  # the key itself never appears


def test_keys_are_stripped():
    k = key()
    token = SecretBox([f"  {k}\n"]).encrypt(Secret(PASSWORD))
    assert SecretBox([k]).decrypt(token).reveal() == PASSWORD


def test_box_repr_hides_the_keys():
    k = key()
    assert k not in repr(SecretBox([k]))
