"""Error messages never carry a person's number in full: a sole trader's organisation number is their
personnummer (or samordningsnummer), so a message about it shows it masked, as a listing does."""

import pytest

from registry.items import duplicate_error
from registry.normalize import org_number


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("811218-9876", "19811218-****"),  # a sole trader's organisation number: the personnummer
        ("19850512-3326", "19850512-****"),  # an individual customer's, with the century
        ("811278-9873", "811278-****"),  # a samordningsnummer
        ("556036-0793", "556036-0793"),  # a company's is shown as it is
        ("DK12345678", "DK12345678"),
    ],
)
def test_a_duplicate_names_a_persons_number_masked(number: str, shown: str) -> None:
    error = duplicate_error("suppliers", number, "on line 2 of this file")
    assert error["message"] == f"org number {shown} already exists on line 2 of this file"
    assert error["fields"] == {"org_number": f"{shown} already exists on line 2 of this file"}


def test_a_mistyped_personnummer_is_not_repeated_in_full() -> None:
    with pytest.raises(ValueError, match=r"^'811218-\*\*\*\*' is not a valid Swedish organisation number"):
        org_number("811218-9875", "SE")  # the check digit is wrong: neither a personnummer nor an org number
    with pytest.raises(ValueError, match=r"^'556677-8898' is not a valid Swedish organisation number"):
        org_number("556677-8898", "SE")
