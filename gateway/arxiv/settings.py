"""Harvest settings: endpoints, politeness and the contact named in the User-Agent."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HarvestSettings(BaseSettings):
    """``ARXIVQA_HARVEST_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="ARXIVQA_HARVEST_", extra="ignore")

    oai_endpoint: str = Field(
        "https://export.arxiv.org/oai2", description="arXiv's OAI-PMH base URL."
    )
    api_endpoint: str = Field(
        "https://export.arxiv.org/api/query", description="arXiv's search API (Atom)."
    )
    pdf_base: str = Field(
        "https://export.arxiv.org/pdf/", description="Prefix of PDF URLs (<base><id>[vN])."
    )
    contact: str = Field(
        "", description="An e-mail or URL put in the User-Agent, as arXiv asks harvesters to."
    )
    min_interval: float = Field(
        3.0, ge=0, le=600, description="Seconds between two requests (arXiv asks for >= 3)."
    )
    max_retries: int = Field(5, ge=0, le=50, description="Retries per request (503, errors).")
    backoff: float = Field(
        5.0, ge=0, le=600, description="First back-off after a network error; doubles."
    )
    max_retry_after: float = Field(
        600.0, ge=0, description="Longest Retry-After honoured before giving up."
    )
    timeout: float = Field(60.0, gt=0, le=600, description="Seconds per HTTP request.")
    data_dir: str = Field(
        "", description="Where harvest state and PDFs are kept; default <ARXIVQA_DATA_DIR>/harvest."
    )

    @property
    def user_agent(self) -> str:
        contact = self.contact.strip() or "contact unset: set ARXIVQA_HARVEST_CONTACT"
        return f"arxivqa-harvester/0.1 (+https://github.com/arxivqa; {contact})"
