"""Reader training pipeline: prepare, train, evaluate, register and promote the QA model.

Modules: ``data`` (SQuAD JSON -> validated examples -> windowed features), ``train``
(fine-tune ``AutoModelForQuestionAnswering``), ``evaluate`` (official SQuAD v1.1 EM/F1),
``registry`` (MLflow tracking, registration, the promotion gate, and
``resolve_reader_source`` for ``models:/`` references), ``pipeline`` (the steps in order)
and ``cli`` (``python -m services.qa.training``). MLflow is imported lazily.
"""
