"""arxivqa.qa.v1.Reader: protobuf <-> reader domain objects; domain errors -> gRPC codes."""

from __future__ import annotations

import time

import grpc

from arxivqa.qa.v1 import qa_pb2, qa_pb2_grpc
from services.common.errors import Unavailable
from services.common.grpc_errors import check_deadline, handle_errors
from services.qa.reader import Passage, Reader


class ReaderServicer(qa_pb2_grpc.ReaderServicer):
    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def _require_ready(self) -> None:
        if not self.reader.ready:
            raise Unavailable("the QA model is still loading; retry when health is SERVING")

    @handle_errors
    def Answer(
        self, request: qa_pb2.AnswerRequest, context: grpc.ServicerContext
    ) -> qa_pb2.AnswerResponse:
        self._require_ready()
        check_deadline(context, "reading the passages")
        remaining = context.time_remaining()
        deadline = time.monotonic() + remaining if remaining is not None else None
        opts = request.options
        result = self.reader.answer(
            request.question,
            [
                Passage(text=p.text, id=p.id, paper_id=p.paper_id, title=p.title)
                for p in request.passages
            ],
            top_k=opts.top_k,
            max_answer_tokens=opts.max_answer_tokens,
            allow_no_answer=opts.allow_no_answer,
            min_score=opts.min_score if opts.HasField("min_score") else None,
            deadline=deadline,
        )
        response = qa_pb2.AnswerResponse(
            answers=[
                qa_pb2.Answer(
                    text=a.text,
                    score=a.score,
                    passage_id=a.passage_id,
                    paper_id=a.paper_id,
                    passage_index=a.passage_index,
                    start=a.start,
                    end=a.end,
                    evidence=a.evidence,
                    evidence_start=a.evidence_start,
                    evidence_end=a.evidence_end,
                    title=a.title,
                )
                for a in result.answers
            ],
            no_answer=result.no_answer,
            model_id=result.model_id,
            windows=result.windows,
        )
        if result.no_answer_score is not None:
            response.no_answer_score = result.no_answer_score
        return response

    @handle_errors
    def GetModelInfo(
        self, request: qa_pb2.GetModelInfoRequest, context: grpc.ServicerContext
    ) -> qa_pb2.GetModelInfoResponse:
        self._require_ready()
        r = self.reader
        return qa_pb2.GetModelInfoResponse(
            model_id=r.model_id,
            source=r.source,
            architecture=r.architecture,
            max_seq_len=r.max_seq_len,
            stride=r.stride,
            device=r.device,
            quantized=r.quantize,
            max_passages=r.limits.max_passages,
            max_total_chars=r.limits.max_total_chars,
            max_question_chars=r.limits.max_question_chars,
        )
