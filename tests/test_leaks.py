"""The leak scans' search: every encoding of a secret is found, and nothing else is."""

from __future__ import annotations

import os

import pytest

from tests.leaks import assert_never_in, encodings

# Its base64 has "+" and "/" (base64url differs) and padding (stripped forms differ).
SECRET = b"\xfb\xef\xff" + bytes(range(29))
FORMS = sorted(encodings(SECRET))


@pytest.mark.parametrize("form", FORMS, ids=[f"form-{i}" for i in range(len(FORMS))])
def test_every_form_of_a_secret_is_found(form: bytes) -> None:
    with pytest.raises(AssertionError, match="the secret is in the log"):
        assert_never_in("the secret", FORMS, {"a response": b"{}", "the log": b"x " + form + b" x"})


def test_other_bytes_pass() -> None:
    assert len(FORMS) == 9
    assert_never_in("the secret", FORMS, {"the log": os.urandom(4096), "a response": SECRET[:16]})
