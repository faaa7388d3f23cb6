"""Register and promote step, and the qa service's ``models:/`` loader.

The store is MLflow: embedded by default (a sqlite database and an artifact folder under
``.data/mlflow``, git-ignored), or the tracking server named by ``MLFLOW_TRACKING_URI``.
A model is logged as the plain transformers directory (config, weights, fast tokenizer)
under the run's ``model/`` artifact path and registered as a new version of ``reader``
with alias ``candidate``; ``production`` moves only through :func:`promote`'s gate.

mlflow is imported inside functions only: the qa service needs it just for ``models:/``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from services.common.settings import data_dir

log = logging.getLogger(__name__)

MODEL_NAME = "reader"
EXPERIMENT = "reader-training"
CANDIDATE = "candidate"
PRODUCTION = "production"
MODEL_ARTIFACT = "model"
_REF = re.compile(
    r"^models:/(?P<name>[A-Za-z0-9_.\-]+)(?:@(?P<alias>[A-Za-z0-9_\-]+)|/(?P<ver>\d+))$"
)


def default_tracking_uri() -> str:
    return f"sqlite:///{data_dir() / 'mlflow' / 'mlflow.db'}"


@dataclass(frozen=True)
class Store:
    """Where runs and registered models live."""

    tracking_uri: str
    artifact_root: Path | None  # for the embedded store; a server chooses its own

    @classmethod
    def from_env(cls, tracking_uri: str | None = None) -> Store:
        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
        if uri:
            local = _sqlite_path(uri)
            return cls(uri, local.parent / "artifacts" if local else None)
        return cls(default_tracking_uri(), data_dir() / "mlflow" / "artifacts")

    @property
    def is_local(self) -> bool:
        return _sqlite_path(self.tracking_uri) is not None

    def client(self, *, create: bool) -> Any:
        """An ``MlflowClient``; with ``create=False`` a missing local store is an error."""
        local = _sqlite_path(self.tracking_uri)
        if local is not None and not local.exists():
            if not create:
                raise FailedPrecondition(
                    f"no model registry at {local}: train and register a reader first "
                    "(make train-reader), or set MLFLOW_TRACKING_URI to a tracking server"
                )
            local.parent.mkdir(parents=True, exist_ok=True)
        try:
            from mlflow import MlflowClient
        except ImportError as exc:
            raise FailedPrecondition(
                "mlflow is not installed: pip install mlflow (needed for models:/ references)"
            ) from exc
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self, client: Any) -> str:
        exp = client.get_experiment_by_name(EXPERIMENT)
        if exp is not None:
            return str(exp.experiment_id)
        location = self.artifact_root.as_uri() if self.artifact_root else None
        return str(client.create_experiment(EXPERIMENT, artifact_location=location))


def _sqlite_path(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///").split("?")[0])
    return None


def _mlflow_call(what: str, store: Store, fn: Callable[[], Any]) -> Any:
    """Run an MLflow call, 'not found' -> NotFound, transport errors -> Unavailable."""
    from mlflow.exceptions import MlflowException

    try:
        return fn()
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise NotFound(f"{what} not found in the registry at {store.tracking_uri}") from exc
        if exc.error_code in ("INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE"):
            raise Unavailable(
                f"model registry at {store.tracking_uri} failed on {what}: {exc.message}"
            ) from exc
        raise


# ---------------------------------------------------------------------------- register


@dataclass(frozen=True)
class EvalRecord:
    """One eval set's result as recorded on a run: the gate compares these."""

    em: float
    f1: float
    questions: int
    fingerprint: str


def log_and_register(
    store: Store,
    *,
    model_dir: Path,
    params: Mapping[str, Any],
    tags: Mapping[str, str],
    metrics: Mapping[str, float],
    evals: Mapping[str, EvalRecord],
    run_name: str,
) -> tuple[str, str]:
    """Log a run (params, tags, metrics, eval results, the model) and register the model.

    Returns ``(run_id, version)``; the new version gets alias ``candidate``.
    """
    client = store.client(create=True)
    exp_id = store.experiment_id(client)
    run = client.create_run(exp_id, run_name=run_name, tags=dict(tags))
    run_id = run.info.run_id
    try:
        from mlflow.entities import Metric, Param, RunTag

        all_metrics = dict(metrics)
        for name, rec in evals.items():
            all_metrics[f"{name}.em"] = rec.em
            all_metrics[f"{name}.f1"] = rec.f1
            all_metrics[f"{name}.questions"] = rec.questions
        eval_tags = {f"eval.{name}.fingerprint": rec.fingerprint for name, rec in evals.items()}
        eval_tags["eval.sets"] = ",".join(sorted(evals))
        client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), 0, 0) for k, v in all_metrics.items()],
            params=[Param(k, str(v)[:6000]) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in eval_tags.items()],
        )
        client.log_artifacts(run_id, str(model_dir), MODEL_ARTIFACT)
        client.set_terminated(run_id)
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    if not _exists(client, MODEL_NAME):
        client.create_registered_model(MODEL_NAME, description="Extractive QA reader")
    mv = client.create_model_version(
        MODEL_NAME, f"runs:/{run_id}/{MODEL_ARTIFACT}", run_id, tags=eval_tags
    )
    client.set_registered_model_alias(MODEL_NAME, CANDIDATE, mv.version)
    log.info("registered %s version %s (run %s) as %s", MODEL_NAME, mv.version, run_id, CANDIDATE)
    return run_id, str(mv.version)


def _exists(client: Any, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True


def recorded_evals(client: Any, run_id: str) -> dict[str, EvalRecord]:
    data = client.get_run(run_id).data
    names = [n for n in data.tags.get("eval.sets", "").split(",") if n]
    return {
        n: EvalRecord(
            em=data.metrics.get(f"{n}.em", 0.0),
            f1=data.metrics.get(f"{n}.f1", 0.0),
            questions=int(data.metrics.get(f"{n}.questions", 0)),
            fingerprint=data.tags.get(f"eval.{n}.fingerprint", ""),
        )
        for n in names
    }


# ----------------------------------------------------------------------------- promote


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    reason: str
    candidate_version: str
    production_version: str | None
    candidate: dict[str, EvalRecord]
    production: dict[str, EvalRecord]  # on the candidate's eval sets; empty if none


ReEvaluate = Callable[[Path], dict[str, EvalRecord]]


def promote(
    store: Store, version: str | None = None, *, re_evaluate: ReEvaluate | None = None
) -> GateDecision:
    """Move alias ``production`` to ``version`` (default: the ``candidate``) if it is no worse.

    The gate: on every eval set the candidate was scored on, its F1 must be at least the
    current production's F1 on that same set (same questions: the fingerprints must match).
    When production was scored on different sets, ``re_evaluate`` (given production's model
    directory) scores it on the candidate's sets; without it the promotion is refused.
    No production yet: the candidate is promoted.
    """
    client = store.client(create=False)
    rm = _mlflow_call(
        f"registered model {MODEL_NAME!r}", store, lambda: client.get_registered_model(MODEL_NAME)
    )
    aliases = {a: str(v) for a, v in rm.aliases.items()}
    if version is None:
        if CANDIDATE not in aliases:
            raise NotFound(f"model {MODEL_NAME!r} has no {CANDIDATE!r} version to promote")
        version = aliases[CANDIDATE]
    cand_mv = _mlflow_call(
        f"version {version} of {MODEL_NAME!r}",
        store,
        lambda: client.get_model_version(MODEL_NAME, version),
    )
    cand = recorded_evals(client, cand_mv.run_id)
    if not cand:
        raise FailedPrecondition(f"version {version} has no recorded evaluation to compare")
    prod_version = aliases.get(PRODUCTION)

    def decide(promoted: bool, reason: str, prod: dict[str, EvalRecord]) -> GateDecision:
        if promoted:
            client.set_registered_model_alias(MODEL_NAME, PRODUCTION, version)
        verdict = "promoted" if promoted else "refused"
        client.set_model_version_tag(MODEL_NAME, version, "gate", verdict)
        client.set_model_version_tag(MODEL_NAME, version, "gate.reason", reason[:5000])
        log.info("gate for version %s: %s", version, reason)
        return GateDecision(promoted, reason, str(version), prod_version, cand, prod)

    if prod_version is None:
        return decide(True, f"no production version yet: version {version} promoted", {})
    if prod_version == str(version):
        return decide(True, f"version {version} is already production", dict(cand))
    prod_mv = client.get_model_version(MODEL_NAME, prod_version)
    prod = recorded_evals(client, prod_mv.run_id)
    missing = [n for n in cand if n not in prod or prod[n].fingerprint != cand[n].fingerprint]
    if missing:
        if re_evaluate is None:
            return decide(
                False,
                f"refused: production version {prod_version} was not scored on the same eval "
                f"set(s) {', '.join(missing)}; rerun the pipeline so it re-evaluates production",
                {},
            )
        with tempfile.TemporaryDirectory() as tmp:
            prod_dir = Path(client.download_artifacts(prod_mv.run_id, MODEL_ARTIFACT, tmp))
            prod = {**prod, **re_evaluate(prod_dir)}
    prod = {n: prod[n] for n in cand}
    worse = [n for n in cand if cand[n].f1 < prod[n].f1]
    table = "; ".join(f"{n}: F1 {cand[n].f1:.2f} vs {prod[n].f1:.2f}" for n in sorted(cand))
    if worse:
        return decide(
            False,
            f"refused: candidate version {version} has a lower F1 than production version "
            f"{prod_version} on {', '.join(sorted(worse))} ({table})",
            prod,
        )
    return decide(
        True,
        f"version {version} promoted over version {prod_version}: F1 at least as high on "
        f"every eval set ({table})",
        prod,
    )


def record_decision(store: Store, run_id: str, decision: GateDecision) -> None:
    """Log the gate's verdict and the production scores it compared against on the run."""
    from mlflow.entities import Metric, RunTag

    client = store.client(create=False)
    metrics = [
        Metric(f"gate.production.{name}.f1", rec.f1, 0, 0)
        for name, rec in decision.production.items()
    ]
    tags = [
        RunTag("gate", "promoted" if decision.promoted else "refused"),
        RunTag("gate.reason", decision.reason[:5000]),
        RunTag("gate.production_version", decision.production_version or ""),
    ]
    client.log_batch(run_id, metrics=metrics, tags=tags)


# ----------------------------------------------------------------------------- resolve


def parse_ref(ref: str) -> tuple[str, str | None, str | None]:
    """``models:/name@alias`` or ``models:/name/version`` -> (name, alias, version)."""
    match = _REF.match(ref.strip())
    if not match:
        raise InvalidArgument(
            f"bad model reference {ref!r}: expected models:/<name>@<alias> "
            "(e.g. models:/reader@production) or models:/<name>/<version>"
        )
    return match["name"], match["alias"], match["ver"]


def resolve_reader_source(
    ref: str, *, cache_dir: Path | None = None, tracking_uri: str | None = None
) -> str:
    """Turn ``models:/reader@production`` into a local directory with the model and tokenizer.

    Looks the alias (or version) up in the registry, downloads that version's ``model/``
    artifacts once into ``cache_dir`` (default ``.data/cache/readers``; one folder per name
    and version, filled atomically) and returns the folder. Errors: ``InvalidArgument`` for a
    malformed reference, ``FailedPrecondition`` when there is no store, ``NotFound`` for an
    unknown model, alias or version, ``Unavailable`` when a tracking server cannot be reached.
    """
    name, alias, version = parse_ref(ref)
    store = Store.from_env(tracking_uri)
    client = store.client(create=False)
    rm = _mlflow_call(
        f"registered model {name!r}", store, lambda: client.get_registered_model(name)
    )
    if alias is not None:
        aliases = {a: str(v) for a, v in rm.aliases.items()}
        if alias not in aliases:
            known = ", ".join(f"{a} -> v{v}" for a, v in sorted(aliases.items())) or "none"
            raise NotFound(f"model {name!r} has no alias {alias!r} (aliases: {known})")
        version = aliases[alias]
    assert version is not None
    mv = _mlflow_call(
        f"version {version} of model {name!r}",
        store,
        lambda: client.get_model_version(name, version),
    )
    target = (cache_dir or data_dir() / "cache" / "readers") / name / f"v{version}-{mv.run_id}"
    if (target / "config.json").is_file():
        log.info("%s -> %s (cached)", ref, target)
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
    try:
        if mv.run_id and str(mv.source).startswith("runs:/"):
            path = _mlflow_call(
                f"artifacts of version {version}",
                store,
                lambda: client.download_artifacts(mv.run_id, MODEL_ARTIFACT, str(tmp)),
            )
        else:
            from mlflow.artifacts import download_artifacts

            path = download_artifacts(artifact_uri=mv.source, dst_path=str(tmp))
        if not (Path(path) / "config.json").is_file():
            raise FailedPrecondition(
                f"{ref} (version {version}) holds no model directory (no config.json)"
            )
        try:
            Path(path).rename(target)
        except OSError:  # another process filled the cache first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s -> %s (version %s)", ref, target, version)
    return str(target)
