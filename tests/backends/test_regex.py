"""Python regexes as POSIX EREs: `grep -E` with the translation selects exactly the paths
`re.search` selects; what grep cannot express is refused with the reason."""

from __future__ import annotations

import random
import re
import subprocess

import pytest

from pipec.backends.regex import Unsupported, to_ere

PATTERNS = [r".*\.txt$", r"^data/[^/]+\.csv$", r"\d{2,3}-\w+", r"(a|bc)*?x", r"[\]a-c^-]", r"[^\s]+\.json",
            r"foo\.bar", r"^(?:x|y)+z?$", r"(?i)readme", r"[.*+?]", r"a{3}", r"\.pt$", r"model_[0-9]+/.*", r"[\[]x",
            r"\$HOME", r"a|b|", r"x\\y", r"[^a]", r"\W\S\D", r"(ab){2,}", r"^$", r"[\^]", r"(?s).", r"a++b"]
ALPHABET = "abcxyz019._-/ ]^[$\\TXTREADME"


def strings() -> list[str]:
    rng = random.Random(7)
    found = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12))) for _ in range(2000)]
    return found + ["a.txt", "data/x.csv", "12-ab", "bcbcx", "]", "-", "^", "a", "b.json", "foo.bar", "xyz", "README",
                    "ReadMe", "*", "aaa", "m.pt", "model_1/a", "[x", "$HOME", "x\\y", "", "abab", "ababab"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_grep_selects_what_python_selects(pattern: str) -> None:
    texts = strings()
    ere, icase = to_ere(pattern)
    r = subprocess.run(["grep", "-n", "-Ei" if icase else "-E", "-e", ere], input="\n".join(texts) + "\n",
                       capture_output=True, text=True, check=False)
    assert r.returncode in (0, 1), r.stderr
    got = {int(line.split(":", 1)[0]) - 1 for line in r.stdout.splitlines()}
    assert got == {i for i, t in enumerate(texts) if re.search(pattern, t)}, ere


@pytest.mark.parametrize(("pattern", "why"), [
    (r"(?=a)b", "lookahead"), (r"(?<!a)b", "lookahead"), (r"(a)\1", "back-references"), (r"\bfoo", "word boundaries"),
    (r"(?i:a)b", "flags inside a group"), (r"a\nb", "newline"),
])
def test_what_grep_cannot_match_is_refused(pattern: str, why: str) -> None:
    with pytest.raises(Unsupported, match=why):
        to_ere(pattern)


def test_a_broken_pattern_raises_re_error() -> None:
    with pytest.raises(re.error):
        to_ere("(unclosed")
