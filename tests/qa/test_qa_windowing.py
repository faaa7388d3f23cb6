"""The reader refuses a tokenizer that drops the windows of long passages.

tokenizers 0.23.2 returns only the first two overflow windows of a long passage (found
when the reader was trained on a GPU machine that had it): every answer past the start of
a passage would silently never be read. The check runs at load, in the reader and in
training. The tokenizer is the real one; the faulty library is imitated by a wrapper that
drops the windows after the second, as 0.23.2 does.
"""

from __future__ import annotations

from typing import Any

import pytest
from transformers import AutoTokenizer

from services.common.errors import FailedPrecondition
from services.qa.reader import check_windowing
from services.qa.training.config import default_base_model


class _DropsWindows:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        enc = self.inner(*args, **kwargs)
        for key in list(enc.keys()):
            enc[key] = enc[key][:2]
        enc._encodings = enc._encodings[:2]
        return enc


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return AutoTokenizer.from_pretrained(default_base_model())


def test_a_working_tokenizer_passes(tokenizer: Any) -> None:
    check_windowing(tokenizer)


def test_a_tokenizer_that_drops_windows_is_refused_with_what_to_do(tokenizer: Any) -> None:
    with pytest.raises(FailedPrecondition) as info:
        check_windowing(_DropsWindows(tokenizer))
    msg = str(info.value)
    assert "drops the windows of long passages" in msg
    assert "in 2 windows" in msg and "install another tokenizers version" in msg
