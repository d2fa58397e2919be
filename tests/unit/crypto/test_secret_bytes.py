"""SecretBytes: redacted, not picklable, not hashable, constant-time equality."""

from __future__ import annotations

import copy
import hmac
import pickle

import pytest

from skms.crypto.secret_bytes import SecretBytes

SECRET = b"hunter2-\x00\xff-very-secret"


def test_reveal_and_len() -> None:
    secret = SecretBytes(SECRET)
    assert secret.reveal() == SECRET
    assert len(secret) == len(SECRET)


def test_value_is_copied_from_a_mutable_source() -> None:
    source = bytearray(SECRET)
    secret = SecretBytes(source)
    source[0] ^= 0xFF
    assert secret.reveal() == SECRET
    assert type(secret.reveal()) is bytes


@pytest.mark.parametrize(
    "render", [repr, str, "{}".format, "{!r}".format, lambda s: f"{[s]}", lambda s: f"{s!s:>80}"]
)
def test_every_rendering_is_redacted(render: object) -> None:
    assert callable(render)
    text = render(SecretBytes(SECRET))
    assert "redacted" in text
    assert f"<{len(SECRET)} bytes redacted>" in text
    for leak in ("hunter2", SECRET.hex(), repr(SECRET), "\\xff"):
        assert leak not in text


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_cannot_be_pickled(protocol: int) -> None:
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(SecretBytes(SECRET), protocol=protocol)


@pytest.mark.parametrize("duplicate", [copy.copy, copy.deepcopy])
def test_cannot_be_copied_through_the_pickle_protocol(duplicate: object) -> None:
    assert callable(duplicate)
    with pytest.raises(TypeError):
        duplicate(SecretBytes(SECRET))


def test_not_hashable() -> None:
    secret = SecretBytes(SECRET)
    with pytest.raises(TypeError, match="hashable"):
        hash(secret)
    with pytest.raises(TypeError):
        {secret}  # noqa: B018
    with pytest.raises(TypeError):
        {secret: 1}  # noqa: B018


def test_no_instance_dict_and_no_new_attributes() -> None:
    secret = SecretBytes(SECRET)
    assert not hasattr(secret, "__dict__")
    with pytest.raises(AttributeError):
        secret.extra = 1  # type: ignore[attr-defined]


def test_not_convertible_to_bytes_or_iterable() -> None:
    secret = SecretBytes(SECRET)
    with pytest.raises(TypeError):
        bytes(secret)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        list(secret)  # type: ignore[call-overload]


def test_equality_semantics() -> None:
    assert SecretBytes(SECRET) == SecretBytes(SECRET)
    assert (SecretBytes(SECRET) != SecretBytes(SECRET)) is False
    assert SecretBytes(SECRET) != SecretBytes(SECRET[:-1])
    assert SecretBytes(SECRET) != SecretBytes(SECRET + b"\x00")
    assert SecretBytes(b"") == SecretBytes(b"")
    # never equal to the raw bytes, so code cannot compare a secret to a guess by accident
    assert SecretBytes(SECRET) != SECRET
    assert SecretBytes(SECRET) not in [SECRET]
    assert SecretBytes(SECRET).__eq__(SECRET) is NotImplemented


def test_equality_uses_constant_time_compare(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a spy in place of hmac.compare_digest as the module sees it
    calls: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr("skms.crypto.secret_bytes.hmac.compare_digest", spy)
    # When two secrets are compared (equal and unequal)
    assert SecretBytes(b"abc") == SecretBytes(b"abc")
    assert SecretBytes(b"abc") != SecretBytes(b"abd")
    # Then every comparison went through the constant-time compare
    assert calls == [(b"abc", b"abc"), (b"abc", b"abd")]
