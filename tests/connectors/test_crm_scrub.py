"""Scrubbing a credential out of what a connector says: a secret of any length, without garbling the text."""

import pytest

from connectors.crm.base import scrub


@pytest.mark.parametrize(
    ("text", "secret", "scrubbed"),
    [
        ("API key 'k3y' is invalid", "k3y", "API key '***' is invalid"),
        ("GET /customers?key=k3y&page=2", "k3y", "GET /customers?key=***&page=2"),
        ("redirected to /login%3Fkey%3Dk3y", "k3y", "redirected to /login%3Fkey%3D***"),
        ("k3y", "k3y", "***"),
        # a short secret inside a longer word is not cut out of it
        ("Bad Request: a key is required", "a", "Bad Request: *** key is required"),
        ("page 1 of 10", "1", "page *** of 10"),
        ("k3yboard", "k3y", "k3yboard"),
        # a long one goes wherever it is, also glued to other text or URL-encoded
        ("tokenfake-app-secret-token!", "fake-app-secret-token", "token***!"),
        ("sent a%2Fb%2Bc%3D as a query", "a/b+c=", "sent *** as a query"),
        ("nothing to hide", "", "nothing to hide"),
    ],
)
def test_scrub(text: str, secret: str, scrubbed: str) -> None:
    assert scrub(text, [secret]) == scrubbed


def test_the_longest_secret_goes_first() -> None:
    credential = "app-secret:grant"  # e-conomic's form: the whole and each part are secrets
    text = f"sent {credential}, then app-secret alone"
    assert scrub(text, [*credential.split(":"), credential]) == "sent ***, then *** alone"
