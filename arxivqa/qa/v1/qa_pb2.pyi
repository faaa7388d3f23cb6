from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Passage(_message.Message):
    __slots__ = ("id", "paper_id", "text", "title")
    ID_FIELD_NUMBER: _ClassVar[int]
    PAPER_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    paper_id: str
    text: str
    title: str
    def __init__(self, id: _Optional[str] = ..., paper_id: _Optional[str] = ..., text: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class AnswerOptions(_message.Message):
    __slots__ = ("top_k", "max_answer_tokens", "allow_no_answer", "min_score")
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MAX_ANSWER_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_NO_ANSWER_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    top_k: int
    max_answer_tokens: int
    allow_no_answer: bool
    min_score: float
    def __init__(self, top_k: _Optional[int] = ..., max_answer_tokens: _Optional[int] = ..., allow_no_answer: _Optional[bool] = ..., min_score: _Optional[float] = ...) -> None: ...

class AnswerRequest(_message.Message):
    __slots__ = ("question", "passages", "options")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    question: str
    passages: _containers.RepeatedCompositeFieldContainer[Passage]
    options: AnswerOptions
    def __init__(self, question: _Optional[str] = ..., passages: _Optional[_Iterable[_Union[Passage, _Mapping]]] = ..., options: _Optional[_Union[AnswerOptions, _Mapping]] = ...) -> None: ...

class Answer(_message.Message):
    __slots__ = ("text", "score", "passage_id", "paper_id", "passage_index", "start", "end", "evidence", "evidence_start", "evidence_end", "title")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PASSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PAPER_ID_FIELD_NUMBER: _ClassVar[int]
    PASSAGE_INDEX_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_START_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_END_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    text: str
    score: float
    passage_id: str
    paper_id: str
    passage_index: int
    start: int
    end: int
    evidence: str
    evidence_start: int
    evidence_end: int
    title: str
    def __init__(self, text: _Optional[str] = ..., score: _Optional[float] = ..., passage_id: _Optional[str] = ..., paper_id: _Optional[str] = ..., passage_index: _Optional[int] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., evidence: _Optional[str] = ..., evidence_start: _Optional[int] = ..., evidence_end: _Optional[int] = ..., title: _Optional[str] = ...) -> None: ...

class AnswerResponse(_message.Message):
    __slots__ = ("answers", "no_answer_score", "no_answer", "model_id", "windows")
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    NO_ANSWER_SCORE_FIELD_NUMBER: _ClassVar[int]
    NO_ANSWER_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    answers: _containers.RepeatedCompositeFieldContainer[Answer]
    no_answer_score: float
    no_answer: bool
    model_id: str
    windows: int
    def __init__(self, answers: _Optional[_Iterable[_Union[Answer, _Mapping]]] = ..., no_answer_score: _Optional[float] = ..., no_answer: _Optional[bool] = ..., model_id: _Optional[str] = ..., windows: _Optional[int] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetModelInfoResponse(_message.Message):
    __slots__ = ("model_id", "source", "architecture", "max_seq_len", "stride", "device", "quantized", "max_passages", "max_total_chars", "max_question_chars")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    MAX_SEQ_LEN_FIELD_NUMBER: _ClassVar[int]
    STRIDE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    QUANTIZED_FIELD_NUMBER: _ClassVar[int]
    MAX_PASSAGES_FIELD_NUMBER: _ClassVar[int]
    MAX_TOTAL_CHARS_FIELD_NUMBER: _ClassVar[int]
    MAX_QUESTION_CHARS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    source: str
    architecture: str
    max_seq_len: int
    stride: int
    device: str
    quantized: bool
    max_passages: int
    max_total_chars: int
    max_question_chars: int
    def __init__(self, model_id: _Optional[str] = ..., source: _Optional[str] = ..., architecture: _Optional[str] = ..., max_seq_len: _Optional[int] = ..., stride: _Optional[int] = ..., device: _Optional[str] = ..., quantized: _Optional[bool] = ..., max_passages: _Optional[int] = ..., max_total_chars: _Optional[int] = ..., max_question_chars: _Optional[int] = ...) -> None: ...
