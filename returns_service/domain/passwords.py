"""Whether a staff member's password is strong enough: long enough, not the account's own email
or name, and not one that guessers try first (zxcvbn's estimate over its lists of common
passwords, words, names and keyboard patterns). Pure: the API and the command line ask the
same."""

from __future__ import annotations

import re
import unicodedata

from zxcvbn import zxcvbn

# zxcvbn's score, 0 (too guessable) to 4: 3 is "safely unguessable: moderate protection from an
# offline slow-hash scenario" (the store keeps Argon2id hashes).
STRONG = 3
LENGTH = "must have 12 to 200 characters, with at least 5 different ones (a phrase is good)"


def weakness(password: str, email: str = "", name: str = "") -> str | None:
    """Why `password` is too weak for the account of `email` and `name`; None if it is not.
    Judged as its compatibility form (full-width "ｐａｓｓｗｏｒｄ１２３４" is "password1234")."""
    password = unicodedata.normalize("NFKC", password)
    if len(password) < 12 or len(password) > 200 or not password.strip():
        return LENGTH
    if len(set(password)) < 5:
        return LENGTH
    folded = password.casefold()
    local = email.split("@", 1)[0]
    own = [email, local, name, *re.split(r"[\s.\-_+]+", f"{local} {name}")]
    if any(len(part) >= 3 and part.casefold() in folded for part in own):
        return "must not contain the account's email or name"
    # zxcvbn reads at most this much (its own guidance: long inputs are slow to match).
    estimate = zxcvbn(password[:100], user_inputs=[part for part in own if part])
    if estimate["score"] < STRONG:
        warning = estimate["feedback"].get("warning") or "it is easy to guess"
        return (
            f"is too easy to guess ({warning.rstrip('.').lower()}): a phrase of a few words is good"
        )
    return None
